"""The worker process: claims queued jobs from the store and runs them, one at a time.

Started detached by the app (``python -m pruning_core worker``, its own process session, so a
browser refresh or an app restart does not kill it). It exits after ``idle_exit_seconds`` with
an empty queue. One worker per cache dir runs at a time: a lock file holds its pid.
"""

from __future__ import annotations

import os
import pathlib
import time

from .store import JobStore, default_cache_dir, pid_alive

POLL_SECONDS = 0.5


def worker_lock_path(cache_dir: pathlib.Path) -> pathlib.Path:
    return cache_dir / "store" / "worker.pid"


def worker_running(cache_dir: str | pathlib.Path | None = None) -> int | None:
    """The pid of the live worker of this cache dir, or None."""
    path = worker_lock_path(pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir())
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def _take_lock(path: pathlib.Path) -> bool:
    """Create the pid file atomically; replace it if its owner is dead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(path.read_text().strip())
            except ValueError:
                pid = -1
            if pid > 0 and pid_alive(pid):
                return False
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def work(cache_dir: str | pathlib.Path | None = None, idle_exit_seconds: float = 10.0) -> int:
    """Run queued jobs until the queue has been empty for ``idle_exit_seconds``."""
    store = JobStore(cache_dir)
    lock = worker_lock_path(store.root)
    if not _take_lock(lock):          # before importing torch (seconds), so a second worker sees the lock
        print(f"a worker is already running for {store.root}")
        store.close()
        return 0
    try:
        from ..runner import run

        idle_since = time.monotonic()
        while True:
            record = store.claim_next(os.getpid())
            if record is None:
                if time.monotonic() - idle_since > idle_exit_seconds:
                    return 0
                time.sleep(POLL_SECONDS)
                continue
            try:
                run(record["config"], cache_dir=store.root, job_id=record["id"],
                    resume=bool(record.get("resume")), origin=record["origin"])
            except Exception as exc:  # recorded in the job by run(); keep serving the queue
                print(f"job {record['id']} failed: {type(exc).__name__}: {exc}", flush=True)
            idle_since = time.monotonic()
    finally:
        lock.unlink(missing_ok=True)
        store.close()
