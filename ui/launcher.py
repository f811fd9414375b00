"""The app's side of the job system: submit jobs and keep one detached worker per cache dir
running (torch-free; the engine's CLI and notebooks run jobs in their own process).

The app never trains: :func:`submit` writes a queued job record into the store and
:func:`ensure_worker` starts ``python -m pruning_core --cache DIR worker`` in its own process
session (so neither a browser refresh nor an app restart stops it), unless a worker already
serves that cache dir. The worker's output goes to ``<cache>/store/worker.log``; it gets all CPU
cores but one for torch (:func:`worker_threads`) unless ``OMP_NUM_THREADS`` is set.

Two quick submits may each start a worker; the OS lock each takes first thing
(:class:`~pruning_core.jobs.worker.WorkerLock`) lets exactly one serve the store and the other
exits at once. Each started process is waited for in a background thread, so an exited worker
never lingers as a zombie that would look alive.

Jobs from the app come from whoever can reach it: :func:`submit` refuses a ``dataset.data_dir``
outside the allowed data roots (:func:`pruning_core.datadirs.check_app_data_dir`).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import threading

from pruning_core.config import Config
from pruning_core.datadirs import check_app_data_dir
from pruning_core.dense import dense_keys
from pruning_core.jobs.store import JobStore, default_cache_dir
from pruning_core.jobs.worker import worker_running
from pruning_core.registry import loaded_plugin_files
from pruning_core.sweeps import Grid, queue_sweep

WORKER_IDLE_EXIT_SECONDS = 60.0
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _root(cache_dir: str | pathlib.Path | None) -> pathlib.Path:
    return default_cache_dir() if cache_dir is None else pathlib.Path(cache_dir)


_started: list[tuple[pathlib.Path, subprocess.Popen]] = []


def _children(root: pathlib.Path) -> list[int]:
    """Pids of the workers this process started for ``root`` that still run (one that is still
    importing has not taken the lock yet; one that lost the lock exits within a second)."""
    _started[:] = [(r, p) for r, p in _started if p.poll() is None]
    return [p.pid for r, p in _started if r == root]


def ensure_worker(cache_dir: str | pathlib.Path | None = None) -> int:
    """Start a detached worker for ``cache_dir`` unless one runs; return the worker's pid."""
    root = _root(cache_dir)
    pid = worker_running(root) or next(iter(_children(root)), None)
    if pid is not None:
        return pid
    log_path = root / "store" / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("OMP_NUM_THREADS", str(worker_threads()))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pruning_core", "--cache", str(root), "worker",
             "--idle-exit", str(WORKER_IDLE_EXIT_SECONDS), "--slots", "auto"],
            cwd=str(REPO_ROOT), env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    os.chmod(log_path, 0o600)
    _started.append((root, process))
    threading.Thread(target=process.wait, name=f"reap-worker-{process.pid}", daemon=True).start()
    return process.pid


def worker_threads() -> int:
    """CPU threads for the worker's torch: all cores but one, which the app and the browser keep.

    On a 2-core machine this is 1, and it matters: LeNet-300-100 on digits trains an epoch in
    0.05 s with one thread and 0.3 s with two competing with the app. Set ``OMP_NUM_THREADS``
    to choose otherwise.
    """
    return max(1, (os.cpu_count() or 2) - 1)


def submit(config: Config, cache_dir: str | pathlib.Path | None = None, name: str | None = None,
           origin: str = "app") -> str:
    """Queue ``config`` as a new job, make sure a worker will run it; return the job id. The job
    records the plug-in files loaded here, so the worker loads them before it runs the job."""
    if origin == "app":
        check_app_data_dir(config.dataset.data_dir)
    with JobStore(cache_dir) as store:
        job_id = store.create_job(config.to_dict(), config.hash(), status="queued", origin=origin,
                                  name=name, plugins=loaded_plugin_files(), dense_keys=dense_keys(config))["id"]
    ensure_worker(cache_dir)
    return job_id


def submit_sweep(grid: Grid, cache_dir: str | pathlib.Path | None = None, name: str | None = None,
                 confirmed: bool = False, origin: str = "app") -> dict:
    """Queue every member of ``grid`` (validated: nothing is queued if one is invalid) as one
    sweep and make sure a worker will run it; return the sweep record."""
    if origin == "app":
        for member in grid.members:
            check_app_data_dir(member.config.dataset.data_dir)
    sweep = queue_sweep(grid, cache_dir, name=name, origin=origin, confirmed=confirmed,
                        plugins=loaded_plugin_files())
    ensure_worker(cache_dir)
    return sweep


def cancel_sweep(sweep_id: str, cache_dir: str | pathlib.Path | None = None, job_id: str | None = None) -> None:
    """Cancel every unfinished job of a sweep (or only ``job_id``); finished rounds stay."""
    with JobStore(cache_dir) as store:
        for job in [job_id] if job_id else store.get_sweep(sweep_id)["jobs"]:
            if store.get_job(job)["status"] in ("queued", "running"):
                store.request_cancel(job)


def resume_sweep(sweep_id: str, cache_dir: str | pathlib.Path | None = None) -> int:
    """Requeue a sweep's interrupted, failed and cancelled jobs; return how many."""
    with JobStore(cache_dir) as store:
        stopped = [j for j in store.get_sweep(sweep_id)["jobs"]
                   if store.get_job(j)["status"] in ("interrupted", "failed", "cancelled")]
        for job in stopped:
            store.requeue(job)
    if stopped:
        ensure_worker(cache_dir)
    return len(stopped)


def resume(job_id: str, cache_dir: str | pathlib.Path | None = None) -> None:
    """Requeue an interrupted, failed or cancelled job; it continues after its last finished round."""
    with JobStore(cache_dir) as store:
        store.requeue(job_id)
    ensure_worker(cache_dir)


def cancel(job_id: str, cache_dir: str | pathlib.Path | None = None) -> None:
    """Ask for cooperative cancellation (a queued job is cancelled at once; finished rounds stay)."""
    with JobStore(cache_dir) as store:
        store.request_cancel(job_id)


def worker_pids(cache_dir: str | pathlib.Path | None = None) -> list[int]:
    """Live worker pids of this cache dir: the lock holder and workers this process started that
    still run (for clean-up)."""
    root = _root(cache_dir)
    holder = worker_running(root)
    return sorted({*_children(root), *([holder] if holder is not None else [])})
