"""The job store: job records and their event streams in diskcache, artifacts as files.

Layout under the cache dir (``$PRUNELAB_CACHE`` or ``<repo>/cache``)::

    store/jobs/     diskcache: job id -> job record (dict)
    store/events/   diskcache: "<job>/n" -> count, "<job>/<seq>" -> event (dict)
    store/sweeps/   diskcache: sweep id -> sweep record (base config, axes, job ids)
    runs/<job>/     masks (bit-packed .npz per round), weights (.pt), exports

Both caches use ``eviction_policy="none"`` (diskcache's default silently evicts once 1 GB is
reached) and :class:`~pruning_core.jobs.safedisk.SafeJSONDisk` (values stored as JSON, pickled
rows refused; tensors never enter the store). Several processes (the app, workers, the CLI)
share the store safely: every read-modify-write runs inside a SQLite transaction.

One bad record stays one bad job: :meth:`JobStore.list_jobs` shows it as ``unreadable`` with the
reason, :meth:`JobStore.claim_next` skips it, and reading it raises a
:class:`~pruning_core.errors.CorruptRecord` naming the job and the file. A full disk or a
read-only store raises a :class:`~pruning_core.errors.StoreError` naming the store.
"""

from __future__ import annotations

import functools
import os
import pathlib
import time
from typing import Any

from ..errors import CorruptRecord
from ..rundir import RunDir
from .removal import JobRemoval
from .safedisk import guarded, make_private, open_cache, store_errors
from .sweep_records import LOCAL, SweepRecords

ACTIVE = ("queued", "running")
STATUSES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")
RECORD_KEYS = ("id", "name", "config", "config_hash", "status", "origin", "created", "started", "finished",
               "heartbeat", "worker_pid", "device", "cancel_requested", "error", "traceback", "progress",
               "plugins", "sweep", "axes", "dense_keys", "lockstep_key", "executor", "tags", "note",
               "tensorboard")
HEARTBEAT_STALE_SECONDS = 30.0
DEAD_WORKER_GRACE_SECONDS = 3.0


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (an exited one that its parent has
    not collected yet, a zombie, counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True                   # no /proc (macOS): trust kill()
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def default_cache_dir() -> pathlib.Path:
    """``$PRUNELAB_CACHE``, else the ``cache/`` folder at the repository root."""
    env = os.environ.get("PRUNELAB_CACHE")
    return pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[2] / "cache"


def unreadable_record(job_id: str, reason: str) -> dict:
    """What listings show for a job whose record cannot be read: its id, the reason, no data."""
    return {**dict.fromkeys(RECORD_KEYS), "id": job_id, "name": job_id, "status": "unreadable", "error": reason,
            "progress": {}, "plugins": []}


def _check_record(job_id: str, record: Any, where: pathlib.Path) -> dict:
    """``record`` if it has the shape of a job record; else a CorruptRecord naming the job and file."""
    problem = None
    if not isinstance(record, dict):
        problem = f"it holds a {type(record).__name__}, not a job record"
    elif record.get("status") not in STATUSES:
        problem = f"its status {record.get('status')!r} is none of {', '.join(STATUSES)}"
    elif not isinstance(record.get("config"), dict):
        problem = "it has no config"
    elif not isinstance(record.get("created"), (int, float)):
        problem = "it has no creation time"
    if problem:
        raise CorruptRecord(f"job {job_id}: its record in {where} is unreadable: {problem}")
    return record


class JobStore(SweepRecords, JobRemoval):
    """Job records, their events and their run folders, shared by every process."""

    def __init__(self, root: str | pathlib.Path | None = None):
        self.root = pathlib.Path(root) if root is not None else default_cache_dir()
        self.runs = self.root / "runs"
        with store_errors(self.root, "opened"):
            for folder in (self.root, self.root / "store", self.runs):
                make_private(folder)
        self._jobs = open_cache(self.root / "store" / "jobs")
        self._events = open_cache(self.root / "store" / "events")
        self._sweeps = open_cache(self.root / "store" / "sweeps")
        self._jobs_file = self.root / "store" / "jobs" / "cache.db"
        self._sweeps_file = self.root / "store" / "sweeps" / "cache.db"
        self._events_file = self.root / "store" / "events" / "cache.db"

    def close(self) -> None:
        self._jobs.close()
        self._events.close()
        self._sweeps.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- job records -------------------------------------------------------------------------

    def _new_record(self, config: dict, config_hash: str, status: str, origin: str, name: str | None,
                    plugins: list[str] | None, now: float, **extra: Any) -> dict:
        """A fresh job record with a unique id (creation time + config hash prefix); call inside a
        transaction of the jobs cache."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        job_id, n = f"{stamp}-{config_hash[:8]}", 1
        while job_id in self._jobs:
            n += 1
            job_id = f"{stamp}-{config_hash[:8]}-{n}"
        return {**dict.fromkeys(RECORD_KEYS), "id": job_id, "name": name or job_id, "config": config,
                "config_hash": config_hash, "status": status, "origin": origin, "created": now,
                "cancel_requested": False, "tags": [], "progress": {"epochs_done": 0, "epochs_total": None, "eta_seconds": None},
                "plugins": list(plugins or []), **extra}

    @guarded("written")
    def create_job(self, config: dict, config_hash: str, *, status: str = "queued",
                   origin: str = "app", name: str | None = None, plugins: list[str] | None = None,
                   dense_keys: list[str | None] | None = None, tensorboard: bool = False) -> dict:
        """Insert a new job record and return it (its id: creation time + config hash prefix).

        ``plugins``: the plug-in files the config's methods come from; the worker loads them.
        ``dense_keys``: per repeat, the key of its dense round 0 (:mod:`pruning_core.dense`).
        ``tensorboard``: the worker also writes TensorBoard logs into the run folder."""
        with self._jobs.transact():
            record = self._new_record(config, config_hash, status, origin, name, plugins, time.time(),
                                      dense_keys=dense_keys, tensorboard=tensorboard)
            self._jobs[record["id"]] = record
        self.run_dir(record["id"]).mkdir()
        return record

    def _read(self, job_id: str) -> dict | None:
        """The stored record (None if there is none); CorruptRecord if it cannot be read."""
        try:
            record = self._jobs.get(job_id)
        except CorruptRecord as exc:
            raise CorruptRecord(f"job {job_id}: its record in {self._jobs_file} is unreadable: {exc}") from None
        return None if record is None else _check_record(job_id, record, self._jobs_file)

    @guarded("read")
    def get_job(self, job_id: str) -> dict:
        """The job record; KeyError naming the known jobs if there is none, CorruptRecord if it
        cannot be read."""
        record = self._read(job_id)
        if record is None:
            raise KeyError(f"no job {job_id!r} in {self.root}; known: {', '.join(self.job_ids()[:10]) or 'none'}")
        return self._with_liveness(record)

    def _keys(self) -> list[tuple[str | None, str | None]]:
        """(job id, None) for every readable key, (None, reason) for each one that is not.

        Read row by row (not with ``iterkeys``), so one undecodable key cannot hide the rest."""
        rows = self._jobs._sql("SELECT rowid, key, raw FROM Cache").fetchall()
        keys = []
        for rowid, key, raw in rows:
            try:
                keys.append((str(self._jobs.disk.get(key, raw)), None))
            except CorruptRecord as exc:
                keys.append((None, f"row {rowid} of {self._jobs_file} is unreadable: {exc}"))
        return keys

    @guarded("read")
    def job_ids(self) -> list[str]:
        """Every readable job id, newest first."""
        return sorted((k for k, _ in self._keys() if k is not None), reverse=True)

    @guarded("read")
    def list_jobs(self) -> list[dict]:
        """Every job record, newest first (running jobs with a stale heartbeat show as interrupted;
        a record that cannot be read shows as ``unreadable`` with the reason)."""
        records = []
        for n, (job_id, reason) in enumerate(self._keys()):
            if job_id is None:
                records.append(unreadable_record(f"unreadable-{n}", reason))
                continue
            try:
                record = self._read(job_id)
            except CorruptRecord as exc:
                record = unreadable_record(job_id, str(exc))
            if record is not None and not record.get("delete_requested"):
                records.append(self._with_liveness(record))
        return sorted(records, key=lambda r: r["id"], reverse=True)

    @guarded("written")
    def update_job(self, job_id: str, **fields: Any) -> dict:
        """Atomically merge ``fields`` into the record; return the new record."""
        with self._jobs.transact():
            record = self._read(job_id)
            if record is None:
                raise KeyError(f"no job {job_id!r} in {self.root}")
            record.update(fields)
            self._jobs[job_id] = record
        return record

    @guarded("written")
    def claim_next(self, worker_pid: int, device: str | None = None) -> dict | None:
        """Atomically take the oldest queued job for this worker (status → running), or None.

        Unreadable records are skipped: they are listed as unreadable and never block the queue.
        A job whose dense round 0 another running job is training now waits until that round is
        published (:mod:`pruning_core.dense`), so it reuses it instead of training it again."""
        with self._jobs.transact():
            ready = self._ready()
            if not ready:
                return None
            return self._take(min(ready, key=lambda r: r["created"]), worker_pid, device)

    @guarded("read")
    def peers(self, record: dict) -> list[dict]:
        """The queued jobs :meth:`claim_next` could take now that are lockstep peers of
        ``record`` (:mod:`~pruning_core.jobs.peers`: one sweep, one lockstep key), oldest first.
        Read only: take them one by one with :meth:`claim`."""
        from .peers import are_peers

        with self._jobs.transact():
            ready = [r for r in self._ready() if r["id"] != record["id"] and are_peers(record, r)]
        return sorted(ready, key=lambda r: r["created"])

    def _ready(self) -> list[dict]:
        """The readable queued jobs of the store's worker (``local``) not waiting for a dense
        round 0 that a running job trains now (inside a transaction)."""
        from ..dense import published

        queued, training = [], set()
        for job_id, _ in self._keys():
            try:
                record = self._read(job_id) if job_id is not None else None
            except CorruptRecord:
                continue
            if record is None:
                continue
            if record["status"] == "queued":
                if (record.get("executor") or LOCAL) == LOCAL:
                    queued.append(record)
            elif self._with_liveness(record)["status"] == "running":
                training |= {k for k in record.get("dense_keys") or [] if k and not published(self.root, k)}
        return [r for r in queued if not training & set(r.get("dense_keys") or [])]

    @guarded("written")
    def claim(self, job_id: str, worker_pid: int, device: str | None = None) -> dict | None:
        """Atomically take one given job if it is queued (an executor that dispatches jobs itself);
        None when it is not (finished, cancelled, unreadable, or claimed by another worker)."""
        with self._jobs.transact():
            try:
                record = self._read(job_id)
            except CorruptRecord:
                return None
            if record is None or record["status"] != "queued":
                return None
            return self._take(record, worker_pid, device)

    def _take(self, record: dict, worker_pid: int, device: str | None) -> dict:
        """Mark a queued record as running for this worker (inside a transaction)."""
        now = time.time()
        record.update(status="running", worker_pid=worker_pid, started=record["started"] or now, heartbeat=now,
                      device=device or record["device"], error=None, traceback=None)
        self._jobs[record["id"]] = record
        return record

    @guarded("read")
    def has_queued(self) -> bool:
        """Whether any readable job waits in the queue of the store's worker (``local`` jobs)."""
        return any(r["status"] == "queued" and (r.get("executor") or LOCAL) == LOCAL for r in self.list_jobs())

    def heartbeat(self, job_id: str, **fields: Any) -> bool:
        """Record that the job's worker is alive; return whether cancellation was requested."""
        record = self.update_job(job_id, heartbeat=time.time(), **fields)
        return bool(record.get("cancel_requested"))

    @guarded("written")
    def request_cancel(self, job_id: str) -> None:
        """Ask for cooperative cancellation; a queued job is cancelled at once."""
        with self._jobs.transact():
            record = self._read(job_id)
            if record is None:
                raise KeyError(f"no job {job_id!r} in {self.root}")
            record["cancel_requested"] = True
            if record["status"] == "queued":
                record["status"], record["finished"] = "cancelled", time.time()
            self._jobs[job_id] = record

    def requeue(self, job_id: str, executor: str | None = None) -> dict:
        """Put an interrupted, failed or cancelled job back in the queue to resume it (with
        ``executor``, for it from now on: a Ray sweep's job can resume locally and back)."""
        moved = {"executor": executor} if executor else {}
        return self.update_job(job_id, status="queued", cancel_requested=False, error=None,
                               traceback=None, worker_pid=None, resume=True, **moved)

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

    @guarded("written")
    def append_event(self, job_id: str, event: dict) -> int:
        """Append one event to the job's stream; return its sequence number (one writer per job)."""
        with self._events.transact():
            seq = self._events.get(f"{job_id}/n", 0)
            self._events[f"{job_id}/{seq:09d}"] = event
            self._events[f"{job_id}/n"] = seq + 1
        return seq

    @guarded("read")
    def event_count(self, job_id: str) -> int:
        try:
            count = self._events.get(f"{job_id}/n", 0)
        except CorruptRecord as exc:
            raise CorruptRecord(f"job {job_id}: its event count in {self._events_file} is unreadable: {exc}") \
                from None
        if not isinstance(count, int) or count < 0:
            raise CorruptRecord(f"job {job_id}: its event count in {self._events_file} is {count!r}, not a count")
        return count

    @guarded("read")
    def events(self, job_id: str, start: int = 0) -> list[dict]:
        """The job's events from sequence number ``start`` on (pages poll only what is new); a
        CorruptRecord naming the job, the event and the file if one cannot be read."""
        out = []
        for seq in range(start, self.event_count(job_id)):
            try:
                event = self._events.get(f"{job_id}/{seq:09d}")
            except CorruptRecord as exc:
                raise CorruptRecord(f"job {job_id}: event {seq} in {self._events_file} is unreadable: {exc}") \
                    from None
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                what = "missing" if event is None else f"a {type(event).__name__} without a type"
                raise CorruptRecord(f"job {job_id}: event {seq} in {self._events_file} is {what}")
            out.append(event)
        return out

    # ---- artifacts ---------------------------------------------------------------------------

    def run_dir(self, job_id: str) -> RunDir:
        """The job's run folder (masks, weights, commit points): :class:`~pruning_core.rundir.RunDir`."""
        return RunDir(self.runs / job_id)
