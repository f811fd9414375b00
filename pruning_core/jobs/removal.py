"""Deleting jobs from the store for good (the :class:`~pruning_core.jobs.store.JobStore` methods
about removal).

A job that is not running is removed at once: its record, its events, its place in its sweep
and its run folder. A running job cannot be pulled from under its worker, so it is marked
``delete_requested`` and cancelled: from then on it is hidden from every listing, and it is
removed by :meth:`JobRemoval.purge_deleted` once it has stopped (the worker calls it after each
job; ``gc`` and every deletion call it too). A deleted job never reappears.
"""

from __future__ import annotations

import shutil

from ..errors import CorruptRecord
from .safedisk import guarded

STOPPED = ("finished", "failed", "cancelled", "interrupted")


class JobRemoval:
    """``delete_job`` and ``purge_deleted`` (mixed into the JobStore)."""

    @guarded("written")
    def delete_job(self, job_id: str) -> str:
        """Delete a job: ``"deleted"`` when it is gone, ``"pending"`` when it was running (it is
        cancelled now and removed once it stops). KeyError if there is no such job; an
        unreadable record is deleted too."""
        with self._jobs.transact():
            try:
                record = self._read(job_id)
            except CorruptRecord:
                record = {"status": "unreadable"}
            if record is None:
                raise KeyError(f"no job {job_id!r} in {self.root}")
            if self._with_liveness(record)["status"] == "running":
                record.update(cancel_requested=True, delete_requested=True)
                self._jobs[job_id] = record
                return "pending"
            del self._jobs[job_id]
        self._forget(job_id, record.get("sweep"))
        return "deleted"

    @guarded("written")
    def purge_deleted(self) -> list[str]:
        """Remove every job marked for deletion that has stopped since; return their ids."""
        gone = []
        for job_id, _ in self._keys():
            if job_id is None:
                continue
            with self._jobs.transact():
                try:
                    record = self._read(job_id)
                except CorruptRecord:
                    continue
                if not record or not record.get("delete_requested") or \
                        self._with_liveness(record)["status"] not in STOPPED:
                    continue
                del self._jobs[job_id]
            self._forget(job_id, record.get("sweep"))
            gone.append(job_id)
        return gone

    def _forget(self, job_id: str, sweep_id: str | None) -> None:
        """Remove what a deleted record leaves: its events, its place in its sweep (a sweep left
        without jobs goes too) and its run folder."""
        with self._events.transact():
            try:
                count = self.event_count(job_id)
            except CorruptRecord:
                count = 0
            for seq in range(count):
                self._events.delete(f"{job_id}/{seq:09d}")
            self._events.delete(f"{job_id}/n")
        if sweep_id:
            with self._sweeps.transact():
                try:
                    sweep = self._sweeps.get(sweep_id)
                except CorruptRecord:
                    sweep = None
                if sweep is not None:
                    sweep["jobs"] = [j for j in sweep["jobs"] if j != job_id]
                    if sweep["jobs"]:
                        self._sweeps[sweep_id] = sweep
                    else:
                        del self._sweeps[sweep_id]
        shutil.rmtree(self.run_dir(job_id).root, ignore_errors=True)
