"""The worker process: claims queued jobs from the store and runs them, one at a time (with the
lockstep peers of a sweep's job where training them together pays: :func:`~pruning_core.runner.run_claimed`).

Started detached by the app (``python -m pruning_core worker``, its own process session, so a
browser refresh or an app restart does not kill it). It exits after ``idle_exit_seconds`` with
an empty queue.

One worker per cache dir: the worker holds an OS lock (``fcntl.flock``) on ``store/worker.lock``
for as long as it lives, and writes its pid into the file for display. The kernel releases the
lock when the process dies, however it dies, so there is no stale pid file to judge and no window
in which two workers both believe they hold it. The file itself is never deleted (deleting a
locked file lets a second worker lock a new file of the same name).
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import time

from ..errors import StoreError
from .store import JobStore, default_cache_dir

POLL_SECONDS = 0.5


def worker_lock_path(cache_dir: pathlib.Path) -> pathlib.Path:
    return cache_dir / "store" / "worker.lock"


class WorkerLock:
    """The exclusive, process-lifetime lock of one cache dir's worker."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False if another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)        # closing the descriptor releases the flock
            self._fd = None


def driver_lock_path(cache_dir: pathlib.Path, sweep_id: str) -> pathlib.Path:
    """The lock of the one process that drives a sweep's jobs on Ray (held as :class:`WorkerLock`)."""
    return cache_dir / "store" / f"driver-{sweep_id}.lock"


def worker_running(cache_dir: str | pathlib.Path | None = None) -> int | None:
    """The pid of the live worker of this cache dir (the holder of its lock), or None."""
    return lock_holder(worker_lock_path(pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()))


def lock_holder(path: pathlib.Path) -> int | None:
    """The pid of the live process holding the :class:`WorkerLock` at ``path``, or None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            for _ in range(20):                   # the holder writes its pid right after locking
                text = os.pread(fd, 32, 0).decode(errors="replace").strip()
                if text.isdigit():
                    return int(text)
                time.sleep(0.01)
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)           # nobody holds it
        return None
    finally:
        os.close(fd)


def _say(message: str) -> None:
    """Print to the worker's log; a full disk must not kill the worker over a log line."""
    try:
        print(message, flush=True)
    except OSError:
        pass


def serve(store: JobStore, idle_exit_seconds: float, lock: WorkerLock | None = None) -> int:
    """Claim and run queued jobs in this process until the queue has been empty for
    ``idle_exit_seconds``; return the exit code.

    With ``lock`` (a lone worker), it lets go of the lock before leaving and looks at the queue
    once more: a job submitted while it was deciding to leave either sees no worker (and its
    submitter starts one) or is seen here (and this worker takes the lock back and runs it)."""
    from ..runner import run_claimed

    idle_since = time.monotonic()
    while True:
        try:
            record = store.claim_next(os.getpid())
        except StoreError as exc:
            _say(f"worker stopped: {exc}")
            return 1
        if record is None:
            if store.has_queued():          # jobs waiting for a dense round 0 another job trains
                idle_since = time.monotonic()
            if time.monotonic() - idle_since <= idle_exit_seconds:
                time.sleep(POLL_SECONDS)
                continue
            if lock is None:
                return 0
            lock.release()
            if not store.has_queued() or not lock.acquire():
                return 0
            idle_since = time.monotonic()
            continue
        boards: list = []

        def sink_for(job: dict):
            """TensorBoard files written from a job's events as they come, where it asked for them."""
            if not job.get("tensorboard"):
                return None
            from ..tensorboard import run_sink
            boards.append(run_sink(store.root, None))
            return boards[-1]

        try:
            run_claimed(store, record, sink_for)      # with its sweep's lockstep peers where batching pays
        except Exception as exc:  # recorded in the job by run(); keep serving the queue
            _say(f"job {record['id']} failed: {type(exc).__name__}: {exc}")
        finally:
            for board in boards:
                board.close()
        try:
            store.purge_deleted()            # a job deleted while it ran goes now that it stopped
        except StoreError as exc:
            _say(f"deleted jobs could not be removed yet: {exc}")
        idle_since = time.monotonic()


def work(cache_dir: str | pathlib.Path | None = None, idle_exit_seconds: float = 10.0,
         slots: int | None = 1) -> int:
    """Serve the store's queue until it has been empty for ``idle_exit_seconds``.

    ``slots = 1`` runs jobs one at a time in this process. ``slots > 1`` (or None: one per GPU,
    else :func:`~pruning_core.jobs.slots.default_cpu_slots`) makes this process a scheduler: it
    holds the store's lock and keeps that many slot processes (``python -m pruning_core slot``),
    each serving the same queue with its own GPU or its share of the CPU cores; claims are
    atomic, so no job runs twice."""
    store = JobStore(cache_dir)
    lock = WorkerLock(worker_lock_path(store.root))
    if not lock.acquire():               # before importing torch (seconds), so a second worker sees it
        _say(f"a worker is already running for {store.root}")
        store.close()
        return 0
    try:
        if slots != 1:
            from .slots import schedule, slot_environments
            environments = slot_environments(slots)
            if len(environments) > 1:
                return schedule(store, lock, idle_exit_seconds, environments)
        return serve(store, idle_exit_seconds, lock)        # one slot: this process is it
    finally:
        lock.release()
        store.close()
