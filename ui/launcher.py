"""The app's side of the job system: submit jobs and keep one detached worker per cache dir
running (torch-free; the engine's CLI and notebooks run jobs in their own process).

The app never trains: :func:`submit` writes a queued job record into the store and
:func:`ensure_worker` starts ``python -m pruning_core --cache DIR worker`` in its own process
session (so neither a browser refresh nor an app restart stops it), unless a worker already
serves that cache dir. The worker's output goes to ``<cache>/store/worker.log``; it gets all CPU
cores but one for torch (:func:`worker_threads`) unless ``OMP_NUM_THREADS`` is set.

Between the start of a worker process and the moment it holds the worker lock (it imports torch
first, a few seconds), :func:`ensure_worker` would see no worker; a small "starting" file
holding the new process's pid and start time closes that window, so two quick submits start
one worker, not two.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

from pruning_core.config import Config
from pruning_core.jobs.store import JobStore, default_cache_dir, pid_alive
from pruning_core.jobs.worker import worker_running
from pruning_core.registry import loaded_plugin_files
from pruning_core.rundir import atomic_write

WORKER_IDLE_EXIT_SECONDS = 60.0
STARTING_GRACE_SECONDS = 60.0
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _root(cache_dir: str | pathlib.Path | None) -> pathlib.Path:
    return default_cache_dir() if cache_dir is None else pathlib.Path(cache_dir)


def _starting_path(root: pathlib.Path) -> pathlib.Path:
    return root / "store" / "worker.starting"


def _starting_pid(root: pathlib.Path) -> int | None:
    """Pid of a worker this module started less than a grace period ago and that still lives."""
    try:
        info = json.loads(_starting_path(root).read_text())
    except (FileNotFoundError, ValueError):
        return None
    pid = int(info.get("pid", -1))
    if pid > 0 and time.time() - float(info.get("time", 0)) < STARTING_GRACE_SECONDS and pid_alive(pid):
        return pid
    return None


_started: list[subprocess.Popen] = []


def _reap_children() -> None:
    """Collect exited workers started by this process, so they do not linger as zombies
    (a zombie still answers ``kill(pid, 0)`` and would look alive)."""
    _started[:] = [p for p in _started if p.poll() is None]


def ensure_worker(cache_dir: str | pathlib.Path | None = None) -> int:
    """Start a detached worker for ``cache_dir`` unless one runs; return the worker's pid."""
    root = _root(cache_dir)
    _reap_children()
    pid = worker_running(root) or _starting_pid(root)
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
             "--idle-exit", str(WORKER_IDLE_EXIT_SECONDS)],
            cwd=str(REPO_ROOT), env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    _started.append(process)
    record = json.dumps({"pid": process.pid, "time": time.time()})
    atomic_write(_starting_path(root), lambda f: f.write(record), mode="w")
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
    with JobStore(cache_dir) as store:
        job_id = store.create_job(config.to_dict(), config.hash(), status="queued", origin=origin,
                                  name=name, plugins=loaded_plugin_files())["id"]
    ensure_worker(cache_dir)
    return job_id


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
    """Live worker pids of this cache dir: the lock holder and a just-started one (for clean-up)."""
    root = _root(cache_dir)
    return sorted({p for p in (worker_running(root), _starting_pid(root)) if p is not None})
