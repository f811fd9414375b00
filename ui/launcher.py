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
from pruning_core.jobs.labels import label_fields
from pruning_core.jobs.store import JobStore, default_cache_dir
from pruning_core.jobs.worker import driver_lock_path, lock_holder, worker_running
from pruning_core.registry import loaded_plugin_files
from pruning_core.sweeps import Grid, queue_sweep
from pruning_core.sweeps.execute import check_executor, hand_over

WORKER_IDLE_EXIT_SECONDS = 60.0
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _root(cache_dir: str | pathlib.Path | None) -> pathlib.Path:
    return default_cache_dir() if cache_dir is None else pathlib.Path(cache_dir)


_started: list[tuple[tuple[pathlib.Path, str], subprocess.Popen]] = []


def _children(root: pathlib.Path, role: str | None = "worker") -> list[int]:
    """Pids of the processes this process started for ``root`` in ``role`` (``worker`` or a sweep
    id: its Ray driver; None: any) that still run (one that is still importing has not taken its lock yet;
    one that lost the lock exits within a second)."""
    _started[:] = [(r, p) for r, p in _started if p.poll() is None]
    return [p.pid for (r, who), p in _started if r == root and role in (who, None)]


def waits_for_worker(record: dict) -> bool:
    """Whether a job record is queued for the store's worker (a Ray sweep's queued jobs wait for
    their driver instead, which only Resume starts again)."""
    return record.get("status") == "queued" and (record.get("executor") or "local") == "local"


def ensure_worker(cache_dir: str | pathlib.Path | None = None) -> int:
    """Start a detached worker for ``cache_dir`` unless one runs; return the worker's pid."""
    root = _root(cache_dir)
    pid = worker_running(root) or next(iter(_children(root)), None)
    if pid is not None:
        return pid
    return _spawn(root, ["worker", "--idle-exit", str(WORKER_IDLE_EXIT_SECONDS), "--slots", "auto"],
                  "worker.log", "worker")


def _spawn(root: pathlib.Path, command: list[str], log_name: str, role: str) -> int:
    """Start ``python -m pruning_core --cache ROOT COMMAND`` in its own process session (so neither
    a browser refresh nor an app restart stops it), its output in ``store/LOG_NAME``, and reap it
    in a thread when it ends; return its pid."""
    log_path = root / "store" / log_name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("OMP_NUM_THREADS", str(worker_threads()))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pruning_core", "--cache", str(root), *command],
            cwd=str(REPO_ROOT), env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    os.chmod(log_path, 0o600)
    _started.append(((root, role), process))
    threading.Thread(target=process.wait, name=f"reap-{role}-{process.pid}", daemon=True).start()
    return process.pid


def worker_threads() -> int:
    """CPU threads for the worker's torch: all cores but one, which the app and the browser keep.

    On a 2-core machine this is 1, and it matters: LeNet-300-100 on digits trains an epoch in
    0.05 s with one thread and 0.3 s with two competing with the app. Set ``OMP_NUM_THREADS``
    to choose otherwise.
    """
    return max(1, (os.cpu_count() or 2) - 1)


def submit(config: Config, cache_dir: str | pathlib.Path | None = None, name: str | None = None,
           origin: str = "app", tensorboard: bool = False) -> str:
    """Queue ``config`` as a new job, make sure a worker will run it; return the job id. The job
    records the plug-in files loaded here, so the worker loads them before it runs the job; with
    ``tensorboard`` the worker also writes TensorBoard logs into the job's run folder."""
    if origin == "app":
        check_app_data_dir(config.dataset.data_dir)
    with JobStore(cache_dir) as store:
        job_id = store.create_job(config.to_dict(), config.hash(), status="queued", origin=origin,
                                  name=name, plugins=loaded_plugin_files(), dense_keys=dense_keys(config),
                                  tensorboard=tensorboard)["id"]
    ensure_worker(cache_dir)
    return job_id


def submit_sweep(grid: Grid, cache_dir: str | pathlib.Path | None = None, name: str | None = None,
                 confirmed: bool = False, origin: str = "app", executor: str = "local",
                 address: str | None = None) -> dict:
    """Queue every member of ``grid`` (validated: nothing is queued if one is invalid) as one
    sweep for ``executor`` and make sure it will run (the worker, or a Ray driver); return the
    sweep record. A missing Ray or an unreachable ``address`` is refused before anything is queued."""
    if origin == "app":
        for member in grid.members:
            check_app_data_dir(member.config.dataset.data_dir)
    check_executor(executor, address)
    sweep = queue_sweep(grid, cache_dir, name=name, origin=origin, confirmed=confirmed,
                        plugins=loaded_plugin_files(), executor=executor, address=address)
    _ensure_executor(sweep, cache_dir)
    return sweep


def _ensure_executor(sweep: dict, cache_dir: str | pathlib.Path | None) -> int:
    """Start what runs this sweep's queued jobs: the store's worker, or the sweep's Ray driver."""
    if (sweep.get("executor") or "local") == "ray":
        return ensure_driver(sweep["id"], cache_dir)
    return ensure_worker(cache_dir)


def ensure_driver(sweep_id: str, cache_dir: str | pathlib.Path | None = None) -> int:
    """Start a detached Ray driver for a queued sweep unless one drives it; return its pid.

    The driver is ``python -m pruning_core --cache DIR sweep --resume SWEEP --executor ray`` (with
    the sweep's address): it dispatches the sweep's queued jobs to Ray and writes their events and
    files into the store, so the pages follow them as they follow local jobs. Its output goes to
    ``<cache>/store/driver-<sweep>.log``."""
    root = _root(cache_dir)
    pid = lock_holder(driver_lock_path(root, sweep_id)) or next(iter(_children(root, sweep_id)), None)
    if pid is not None:
        return pid
    return _spawn(root, ["sweep", "--resume", sweep_id, "--executor", "ray"], f"driver-{sweep_id}.log", sweep_id)


def driver_running(sweep_id: str, cache_dir: str | pathlib.Path | None = None) -> bool:
    """Whether a Ray driver runs this sweep's jobs now (one this process started that is still
    starting counts)."""
    root = _root(cache_dir)
    return lock_holder(driver_lock_path(root, sweep_id)) is not None or bool(_children(root, sweep_id))


def cancel_sweep(sweep_id: str, cache_dir: str | pathlib.Path | None = None, job_id: str | None = None) -> None:
    """Cancel every unfinished job of a sweep (or only ``job_id``); finished rounds stay."""
    with JobStore(cache_dir) as store:
        for job in [job_id] if job_id else store.get_sweep(sweep_id)["jobs"]:
            if store.get_job(job)["status"] in ("queued", "running"):
                store.request_cancel(job)


def resume_sweep(sweep_id: str, cache_dir: str | pathlib.Path | None = None) -> int:
    """Requeue a sweep's interrupted, failed and cancelled jobs and start its executor again (a
    Ray sweep whose driver was stopped also has queued jobs waiting); return how many jobs wait."""
    with JobStore(cache_dir) as store:
        sweep = store.get_sweep(sweep_id)
        waiting = hand_over(store, sweep, sweep.get("executor") or "local")
    if waiting:
        _ensure_executor(sweep, cache_dir)
    return waiting


def resume(job_id: str, cache_dir: str | pathlib.Path | None = None) -> None:
    """Requeue an interrupted, failed or cancelled job; it continues after its last finished round
    (on the executor that ran it: a Ray sweep's job on Ray)."""
    with JobStore(cache_dir) as store:
        record = store.requeue(job_id)
        sweep = store.get_sweep(record["sweep"]) if record.get("executor") == "ray" else {"executor": "local"}
    _ensure_executor(sweep, cache_dir)


def cancel(job_id: str, cache_dir: str | pathlib.Path | None = None) -> None:
    """Ask for cooperative cancellation (a queued job is cancelled at once; finished rounds stay)."""
    with JobStore(cache_dir) as store:
        store.request_cancel(job_id)


def delete_jobs(job_ids: list[str], cache_dir: str | pathlib.Path | None = None) -> dict[str, str]:
    """Delete jobs with their run folders: {job: "deleted", or "pending" for a running job, which
    is cancelled now and removed once it stops}."""
    with JobStore(cache_dir) as store:
        return {job_id: store.delete_job(job_id) for job_id in job_ids}


def label(job_id: str, cache_dir: str | pathlib.Path | None = None, **labels) -> dict:
    """Set a job's ``name``, ``tags`` and ``note`` (checked: a ConfigError names the field)."""
    fields = label_fields(**labels)
    with JobStore(cache_dir) as store:
        return store.update_job(job_id, **fields)


def worker_pids(cache_dir: str | pathlib.Path | None = None) -> list[int]:
    """Live worker pids of this cache dir: the lock holder, and the workers and Ray drivers this
    process started that still run (for clean-up)."""
    root = _root(cache_dir)
    holder = worker_running(root)
    return sorted({*_children(root, None), *([holder] if holder is not None else [])})
