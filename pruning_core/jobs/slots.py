"""The local executor: one scheduler, several slot processes serving one queue.

A *slot* is a process that claims queued jobs and runs them one at a time
(:func:`~pruning_core.jobs.worker.serve`), pinned to its resources: on a machine with GPUs, one
slot per GPU, which sees only its own device (``CUDA_VISIBLE_DEVICES``); on the CPU, the cores
split evenly between the slots (``OMP_NUM_THREADS``). Claims are atomic transactions of the
store, so no job is ever claimed twice, and single jobs and sweep jobs share the one queue. A
slot that dies leaves its job *interrupted* (its pid is gone), resumable as any other; the
scheduler starts a fresh slot in its place while jobs wait.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

POLL_SECONDS = 0.5
SLOTS_ENV = "PRUNELAB_SLOTS"


def cpu_budget() -> int:
    """The cores jobs may use: ``$OMP_NUM_THREADS`` where the launcher set it (the app keeps one
    core for itself), else every core."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)


def default_cpu_slots(cores: int | None = None) -> int:
    """Concurrent CPU jobs: one per core of the budget, each on one thread, at most 8.

    Measured on the 2-core development machine (``benchmarks/sweep_bench.py``): the small
    networks this tool trains on a CPU gain little from a second thread, so two one-thread jobs
    finish a sweep sooner than one two-thread job at a time. ``$PRUNELAB_SLOTS`` or ``--slots``
    chooses otherwise."""
    env = os.environ.get(SLOTS_ENV, "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(8, cores or cpu_budget()))


def gpu_count() -> int:
    """CUDA devices this process may use (without creating a CUDA context)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def slot_environments(slots: int | None, cores: int | None = None, gpus: int | None = None) -> list[dict]:
    """The environment overrides of each slot: a GPU each where there are GPUs (slots beyond
    the GPU count share them round-robin), else an equal share of the CPU cores."""
    gpus = gpu_count() if gpus is None else gpus
    cores = cores or cpu_budget()
    if slots is None:
        slots = gpus or default_cpu_slots(cores)
    if gpus:
        return [{"CUDA_VISIBLE_DEVICES": str(i % gpus), "OMP_NUM_THREADS": str(max(1, cores // slots))}
                for i in range(slots)]
    return [{"OMP_NUM_THREADS": str(max(1, cores // slots))} for _ in range(slots)]


def _start_slot(store_root, env_overrides: dict, idle_exit_seconds: float) -> subprocess.Popen:
    env = {**os.environ, **env_overrides, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "pruning_core", "--cache", str(store_root), "slot",
                             "--idle-exit", str(idle_exit_seconds)], env=env, stdin=subprocess.DEVNULL)


def schedule(store, lock, idle_exit_seconds: float, envs: list[dict]) -> int:
    """Keep one slot process per environment of ``envs`` (:func:`slot_environments`) running
    while there is work; return when all have gone idle and exited.

    A slot that exits while jobs still wait (it crashed, or went idle just before a submit) is
    replaced. Before returning, the scheduler lets go of the lock and looks at the queue once
    more, as a lone worker does."""
    print(f"scheduler {os.getpid()}: {len(envs)} slot(s) for {store.root}: "
          + "; ".join(" ".join(f"{k}={v}" for k, v in e.items()) for e in envs), flush=True)
    running: dict[int, subprocess.Popen] = {i: _start_slot(store.root, e, idle_exit_seconds) for i, e in enumerate(envs)}
    try:
        while True:
            for i, process in list(running.items()):
                if process.poll() is not None:
                    del running[i]
                    if store.has_queued():
                        running[i] = _start_slot(store.root, envs[i], idle_exit_seconds)
            if running:
                time.sleep(POLL_SECONDS)
                continue
            lock.release()
            if not store.has_queued() or not lock.acquire():
                return 0
            running = {i: _start_slot(store.root, e, idle_exit_seconds) for i, e in enumerate(envs)}
    finally:
        for process in running.values():
            process.terminate()
