"""The job store: job records and their event streams in diskcache, artifacts as files.

Layout under the cache dir (``$PRUNELAB_CACHE`` or ``<repo>/cache``)::

    store/jobs/     diskcache: job id -> job record (dict)
    store/events/   diskcache: "<job>/n" -> count, "<job>/<seq>" -> event (dict)
    runs/<job>/     masks (bit-packed .npz per round), weights (.pt), exports

Both caches use ``eviction_policy="none"`` (diskcache's default silently evicts once 1 GB is
reached) and ``JSONDisk`` (values stored as JSON, never pickled; tensors never enter the store).
Several processes (the app, workers, the CLI) share the store safely: every read-modify-write
runs inside a SQLite transaction.
"""

from __future__ import annotations

import os
import pathlib
import time
from typing import Any

import diskcache

from ..rundir import RunDir

ACTIVE = ("queued", "running")
HEARTBEAT_STALE_SECONDS = 30.0
DEAD_WORKER_GRACE_SECONDS = 3.0


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def default_cache_dir() -> pathlib.Path:
    """``$PRUNELAB_CACHE``, else the ``cache/`` folder at the repository root."""
    env = os.environ.get("PRUNELAB_CACHE")
    return pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[2] / "cache"


def _open(directory: pathlib.Path) -> diskcache.Cache:
    return diskcache.Cache(str(directory), disk=diskcache.JSONDisk, eviction_policy="none",
                           size_limit=2**62, timeout=60)


class JobStore:
    """Job records, their events and their run folders, shared by every process."""

    def __init__(self, root: str | pathlib.Path | None = None):
        self.root = pathlib.Path(root) if root is not None else default_cache_dir()
        self.runs = self.root / "runs"
        self._jobs = _open(self.root / "store" / "jobs")
        self._events = _open(self.root / "store" / "events")

    def close(self) -> None:
        self._jobs.close()
        self._events.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- job records -------------------------------------------------------------------------

    def create_job(self, config: dict, config_hash: str, *, status: str = "queued",
                   origin: str = "app", name: str | None = None, plugins: list[str] | None = None) -> dict:
        """Insert a new job record and return it (its id: creation time + config hash prefix).

        ``plugins``: the plug-in files the config's methods come from; the worker loads them."""
        now = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        with self._jobs.transact():
            job_id, n = f"{stamp}-{config_hash[:8]}", 1
            while job_id in self._jobs:
                n += 1
                job_id = f"{stamp}-{config_hash[:8]}-{n}"
            record = {"id": job_id, "name": name or job_id, "config": config, "config_hash": config_hash,
                      "status": status, "origin": origin, "created": now, "started": None,
                      "finished": None, "heartbeat": None, "worker_pid": None, "device": None,
                      "cancel_requested": False, "error": None, "traceback": None,
                      "progress": {"epochs_done": 0, "epochs_total": None, "eta_seconds": None},
                      "plugins": list(plugins or [])}
            self._jobs[job_id] = record
        self.run_dir(job_id).mkdir()
        return record

    def get_job(self, job_id: str) -> dict:
        """The job record; KeyError naming the known jobs if there is none."""
        record = self._jobs.get(job_id)
        if record is None:
            raise KeyError(f"no job {job_id!r} in {self.root}; known: {', '.join(self.job_ids()[:10]) or 'none'}")
        return self._with_liveness(record)

    def job_ids(self) -> list[str]:
        """Every job id, newest first."""
        return sorted(self._jobs.iterkeys(), reverse=True)

    def list_jobs(self) -> list[dict]:
        """Every job record, newest first (running jobs with a stale heartbeat show as interrupted)."""
        return [self.get_job(j) for j in self.job_ids()]

    def update_job(self, job_id: str, **fields: Any) -> dict:
        """Atomically merge ``fields`` into the record; return the new record."""
        with self._jobs.transact():
            record = self._jobs[job_id]
            record.update(fields)
            self._jobs[job_id] = record
        return record

    def claim_next(self, worker_pid: int, device: str | None = None) -> dict | None:
        """Atomically take the oldest queued job for this worker (status → running), or None."""
        with self._jobs.transact():
            queued = [r for r in (self._jobs[k] for k in self._jobs.iterkeys()) if r["status"] == "queued"]
            if not queued:
                return None
            record = min(queued, key=lambda r: r["created"])
            now = time.time()
            record.update(status="running", worker_pid=worker_pid, started=record["started"] or now,
                          heartbeat=now, device=device or record["device"])
            self._jobs[record["id"]] = record
            return record

    def heartbeat(self, job_id: str, **fields: Any) -> bool:
        """Record that the job's worker is alive; return whether cancellation was requested."""
        record = self.update_job(job_id, heartbeat=time.time(), **fields)
        return bool(record.get("cancel_requested"))

    def request_cancel(self, job_id: str) -> None:
        """Ask for cooperative cancellation; a queued job is cancelled at once."""
        with self._jobs.transact():
            record = self._jobs[job_id]
            record["cancel_requested"] = True
            if record["status"] == "queued":
                record["status"], record["finished"] = "cancelled", time.time()
            self._jobs[job_id] = record

    def requeue(self, job_id: str) -> dict:
        """Put an interrupted, failed or cancelled job back in the queue to resume it."""
        return self.update_job(job_id, status="queued", cancel_requested=False, error=None,
                               traceback=None, worker_pid=None, resume=True)

    def _with_liveness(self, record: dict) -> dict:
        """A running job whose heartbeat is stale, or whose worker process on this machine is gone,
        is shown as interrupted (it can be resumed)."""
        if record["status"] != "running" or record.get("heartbeat") is None:
            return record
        silent = time.time() - record["heartbeat"]
        pid = record.get("worker_pid")
        if silent > HEARTBEAT_STALE_SECONDS or (silent > DEAD_WORKER_GRACE_SECONDS and pid and not pid_alive(pid)):
            record = {**record, "status": "interrupted"}
        return record

    # ---- events ------------------------------------------------------------------------------

    def append_event(self, job_id: str, event: dict) -> int:
        """Append one event to the job's stream; return its sequence number (one writer per job)."""
        with self._events.transact():
            seq = self._events.get(f"{job_id}/n", 0)
            self._events[f"{job_id}/{seq:09d}"] = event
            self._events[f"{job_id}/n"] = seq + 1
        return seq

    def event_count(self, job_id: str) -> int:
        return self._events.get(f"{job_id}/n", 0)

    def events(self, job_id: str, start: int = 0) -> list[dict]:
        """The job's events from sequence number ``start`` on (pages poll only what is new)."""
        end = self.event_count(job_id)
        return [self._events[f"{job_id}/{seq:09d}"] for seq in range(start, end)]

    # ---- artifacts ---------------------------------------------------------------------------

    def run_dir(self, job_id: str) -> RunDir:
        """The job's run folder (masks, weights, commit points): :class:`~pruning_core.rundir.RunDir`."""
        return RunDir(self.runs / job_id)
