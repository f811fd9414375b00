"""Run a queued sweep to the end with one executor, and the ``pruning_core.sweep`` notebook API.

Executors share one interface, ``execute(sweep, cache_dir, on_job_done, ...)``: they return when
every job of the sweep has stopped (finished, failed, cancelled or interrupted).

* ``local`` (the default): the store's worker, a scheduler with slots
  (:mod:`pruning_core.jobs.slots`). If a worker already serves the store (the app's), the sweep's
  jobs join its queue and this process only watches.
* ``ray``: :mod:`.ray_executor` (optional; ``pip install -r requirements-ray.txt``).
"""

from __future__ import annotations

import pathlib
import threading
import time
from typing import Any, Callable

from ..config import Config
from .grid import Axis, expand
from .status import STOPPED, job_states
from .table import sweep_rounds

EXECUTORS = ("local", "ray")


def watch(store, sweep: dict, on_job_done: Callable[[dict], None] | None = None, poll: float = 0.5,
          until: Callable[[], bool] | None = None) -> dict[str, dict]:
    """Wait until every job of ``sweep`` has stopped, calling ``on_job_done(record)`` once per job
    as it stops; return the final records. ``until()`` true ends the wait early."""
    reported: set[str] = set()
    while True:
        states = job_states(store, sweep)
        for job_id, record in states.items():
            if record["status"] in STOPPED and job_id not in reported:
                reported.add(job_id)
                if on_job_done is not None:
                    on_job_done(record)
        if len(reported) == len(states) or (until is not None and until()):
            return states
        time.sleep(poll)


def execute_local(sweep: dict, cache_dir, on_job_done=None, *, slots: int | None = None,
                  idle_exit_seconds: float = 2.0) -> dict[str, dict]:
    """Serve the store's queue with a scheduler of ``slots`` in a thread of this process (unless a
    worker already serves it) and watch the sweep to its end."""
    from ..jobs.store import JobStore
    from ..jobs.worker import work, worker_running

    with JobStore(cache_dir) as store:
        serving = worker_running(store.root)
        if serving is not None and slots is not None:
            print(f"the worker {serving} already serves {store.root}: its slots run the sweep, not {slots}",
                  flush=True)
        worker = threading.Thread(target=work, args=(store.root, idle_exit_seconds, slots), daemon=True,
                                  name="prunelab-scheduler")
        worker.start()
        return watch(store, sweep, on_job_done)


def check_executor(executor: str, address: str | None = None) -> None:
    """Refuse an unknown executor, a missing Ray or an unreachable Ray address before anything is
    queued (a sweep queued for Ray that cannot start would wait for a local worker instead)."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor: got {executor!r}; allowed: {', '.join(EXECUTORS)}")
    if address and executor != "ray":
        raise ValueError(f"address: got {address!r}, which only the ray executor uses; allowed: no address, "
                         "or --executor ray")
    if executor == "ray":
        from .ray_connect import check_reachable, import_ray
        import_ray()
        if address:
            check_reachable(address)


def hand_over(store, sweep: dict, executor: str) -> int:
    """Give a sweep's unfinished jobs to ``executor``: requeue its interrupted, failed and cancelled
    jobs (they resume after their last finished round) and move its queued ones; return how many
    jobs wait now. A finished job is never rerun."""
    waiting = 0
    for job_id, record in job_states(store, sweep).items():
        if record["status"] in ("interrupted", "failed", "cancelled"):
            store.requeue(job_id, executor)
        elif record["status"] == "queued":
            store.update_job(job_id, executor=executor)
        else:
            continue
        waiting += 1
    return waiting


def execute(sweep: dict, cache_dir=None, on_job_done=None, *, executor: str = "local", slots: int | None = None,
            address: str | None = None) -> dict[str, dict]:
    """Run a queued sweep with ``executor`` (``local`` or ``ray``) until every job stopped."""
    if executor == "local":
        return execute_local(sweep, cache_dir, on_job_done, slots=slots)
    if executor == "ray":
        from .ray_executor import execute_ray
        return execute_ray(sweep, cache_dir, on_job_done, address=address, slots=slots)
    raise ValueError(f"executor: got {executor!r}; allowed: {', '.join(EXECUTORS)}")


def sweep(base: dict | Config, axes: dict[str, list] | list[Axis], *, executor: str = "local",
          cache_dir: str | pathlib.Path | None = None, zipped: bool = False, name: str | None = None,
          slots: int | None = None, address: str | None = None, confirmed: bool = False) -> Any:
    """Run a grid of experiments and return its table (pandas DataFrame, one row per job ×
    repeat × round, the axis values as columns).

    ``axes``: ``{"seed": [0, 1, 2], "pruner.score": ["magnitude", "random"]}`` (or :class:`Axis`
    objects). Every member is validated before anything is queued (ConfigError listing each
    invalid combination)."""
    from ..jobs.store import JobStore
    from . import queue_sweep

    axis_list = list(axes) if not isinstance(axes, dict) else [Axis(k, tuple(v)) for k, v in axes.items()]
    check_executor(executor, address)
    queued = queue_sweep(expand(base, axis_list, zipped), cache_dir, name=name, origin="api", confirmed=confirmed,
                         executor=executor, address=address)
    execute(queued, cache_dir, executor=executor, slots=slots, address=address)
    with JobStore(cache_dir) as store:
        return sweep_rounds(store, queued)
