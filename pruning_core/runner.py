"""Run an experiment: resolve the device, load data, run every repeat, record everything.

:func:`run` is the one entry point the CLI, the worker and notebooks share. It creates a job
record in the store (or continues a given one), streams every event to the store and to an
optional callback, and returns a :class:`RunResult` with the rounds and epochs as DataFrames.
Whatever happens — success, cancellation, an exception — the finished rounds stay in the store
and the run folder, and the job record says how it ended.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .config import Config
from .data import load_dataset
from .datadirs import check_app_data_dir
from .dense import dense_keys
from .devices import device_label, resolve_device
from .errors import StoreError
from .events import Event, events_to_frames, make_event
from .jobs.store import JobStore
from .loop import Progress, RunContext, run_repeat
from .masks import Masks, load_masks
from .models import check_compatible
from .registry import loaded_plugin_files, load_plugins
from .rundir import RunDir
from .summary import build_summary
from .train import Cancelled

HEARTBEAT_SECONDS = 1.0
SHARE_DENSE_ENV = "PRUNELAB_SHARE_DENSE"


@dataclass
class RunResult:
    """The outcome of :func:`run`: tables built from the events, and access to the masks."""

    job_id: str
    status: str
    config: Config
    run_dir: RunDir
    rounds: Any          # pandas DataFrame, one row per (repeat, round)
    epochs: Any          # pandas DataFrame, one row per (repeat, round, epoch)
    summary: dict

    def masks(self, round_index: int = -1, repeat: int = 0, device: str = "cpu") -> Masks:
        """The masks after round ``round_index`` (−1 = the last finished) of one repeat."""
        files = self.run_dir.repeat(repeat).mask_files()
        if not files:
            raise FileNotFoundError(f"no masks in {self.run_dir.repeat(repeat).folder}")
        path = list(files.values())[round_index] if round_index < 0 else files[round_index]
        return load_masks(path, device)


def run(config: Config | dict, on_event: Callable[[Event], None] | None = None, *,
        cache_dir: str | pathlib.Path | None = None, job_id: str | None = None,
        cancel: threading.Event | None = None, resume: bool = False, origin: str = "api",
        share_dense: bool | None = None) -> RunResult:
    """Run a pruning experiment and return its results.

    ``config`` is a :class:`Config` or a partial dict (validated here). Events go to the job
    store under ``cache_dir`` (default ``cache/``) and to ``on_event``. Give ``job_id`` to run an
    existing (queued) job and ``resume=True`` to continue it after its last finished round.
    Setting ``cancel`` stops the run between two training steps; the status becomes ``cancelled``
    and finished rounds are kept. An exception is recorded in the job (status ``failed``, with
    its traceback) and re-raised. ``share_dense`` (default: on unless ``$PRUNELAB_SHARE_DENSE``
    is ``0``) reuses round 0 from an earlier job of the same store with the same dense phase
    (:mod:`pruning_core.dense`), and publishes the round 0 it trains.
    """
    with JobStore(cache_dir) as store:
        try:
            if job_id is not None:
                load_plugins(store.get_job(job_id).get("plugins") or [])
            config = config if isinstance(config, Config) else Config.from_dict(config)
        except Exception as exc:          # a queued job whose config or plug-ins no longer load
            if job_id is not None and not isinstance(exc, (KeyError, StoreError)):
                _record_failure(store, job_id, exc, emit=lambda *a, **k: None)
            raise
        if job_id is None:
            job_id = store.create_job(config.to_dict(), config.hash(), status="running", origin=origin,
                                      plugins=loaded_plugin_files(), dense_keys=dense_keys(config))["id"]
        _run_job(store, config, job_id, on_event, cancel, resume, origin,
                 share_dense if share_dense is not None else os.environ.get(SHARE_DENSE_ENV, "1") != "0")
        return load_result(job_id, store=store)


def _epochs_committed(config: Config, plan, run_dir: RunDir) -> int:
    """Epochs of the rounds every repeat has committed: where a resumed run's progress starts
    (epochs of a round that was interrupted are trained again, so they do not count)."""
    done = 0
    for repeat in range(config.repeats):
        state = run_dir.repeat(repeat).committed()
        done += 0 if state is None else plan.epochs_through(state["round"])
    return done


def _run_job(store: JobStore, config: Config, job_id: str, on_event, cancel, resume: bool, origin: str,
             share_dense: bool) -> None:
    """Run every repeat of an existing job record, and record in it how the run ended.

    Everything, from reading the job's run folder on, happens inside one ``try``: whatever fails
    leaves the job ``failed`` with the reason, never ``running`` without one."""
    progress = Progress(0)
    last_beat = [0.0]

    def emit(kind: str, **fields: Any) -> None:
        event = make_event(kind, job=job_id, **fields)
        store.append_event(job_id, event)
        if on_event is not None:
            on_event(event)

    def progress_fields() -> dict:
        return {"epochs_done": progress.done, "epochs_total": progress.total, "eta_seconds": progress.eta_seconds()}

    def should_stop() -> bool:
        if cancel is not None and cancel.is_set():
            return True
        now = time.monotonic()
        if now - last_beat[0] < HEARTBEAT_SECONDS:
            return False
        last_beat[0] = now
        return store.heartbeat(job_id, progress=progress_fields())

    status, started = "running", time.time()
    try:
        if origin == "app":
            check_app_data_dir(config.dataset.data_dir)
        run_dir = store.run_dir(job_id).mkdir()
        if resume:
            run_dir.discard_uncommitted()
        plan = config.plan()
        progress = Progress(config.repeats * plan.total_epochs(),
                            done=_epochs_committed(config, plan, run_dir) if resume else 0)
        device = resolve_device(config.device)
        store.update_job(job_id, status="running", started=store.get_job(job_id)["started"] or started,
                         heartbeat=started, worker_pid=os.getpid(), device=device_label(device),
                         cancel_requested=False, progress=progress_fields())
        data = load_dataset(config.dataset.name, data_dir=config.dataset.data_dir, device=device,
                            download=config.dataset.download, augment=config.dataset.augment)
        spec = data.spec
        check_compatible(config.model.name, in_channels=spec.in_channels, num_classes=spec.num_classes,
                         input_size=spec.input_size)
        ctx = RunContext(config, plan, data, device, run_dir, emit, should_stop, progress, resume,
                         dense_root=store.root if share_dense else None, job_id=job_id)
        together = _seeds_together(ctx)
        for repeat in range(config.repeats):
            emit("run_started", config_hash=config.hash(), device=device_label(device), repeat=repeat,
                 seed=config.seed + repeat, planned_epochs=progress.total, dataset_source=data.source,
                 seeds_together=together)
            if not together:
                run_repeat(ctx, repeat)
        if together:
            from .batched.driver import run_repeats_together
            run_repeats_together(ctx, range(config.repeats))
        status = "finished"
    except Cancelled:
        status = "cancelled"
    except BaseException as exc:
        status = "failed"
        _record_failure(store, job_id, exc, emit)
        raise
    finally:
        with contextlib.suppress(StoreError):     # a store that cannot be written was reported above
            if status != "failed":
                emit(f"run_{status}")
            store.update_job(job_id, status=status, finished=time.time(), heartbeat=time.time(),
                             progress=progress_fields())


def _seeds_together(ctx: RunContext) -> bool:
    """Whether the job's repeats train as one batched model (:mod:`pruning_core.batched`): where
    it was measured to pay on this device (a stored figure, or on a GPU without one a measurement
    on this job's data; ``$PRUNELAB_SEED_BATCHING`` = on/off/auto) and the algorithm runs its
    repeats in lockstep."""
    from .batched.checks import NotBatchable
    from .batched.driver import check_lockstep
    from .batched.policy import batching_pays, measure_ratio

    model, n = ctx.config.model.name, ctx.config.repeats
    if not batching_pays(ctx.device, model, n, measure=lambda: measure_ratio(ctx.data, ctx.config.training, model, n)):
        return False
    try:
        check_lockstep(ctx)
    except NotBatchable:
        return False
    return True


def _record_failure(store: JobStore, job_id: str, exc: BaseException, emit) -> None:
    """Write the reason of a failure into the job record, then a ``run_failed`` event. When the
    store itself cannot be written (a full disk), the job shows as interrupted once its worker
    is gone, and the reason goes to the worker's output."""
    error = f"{type(exc).__name__}: {exc}"
    try:
        store.update_job(job_id, status="failed", finished=time.time(), error=error, traceback=traceback.format_exc())
        emit("run_failed", error=error)
    except StoreError as store_exc:
        with contextlib.suppress(OSError):
            print(f"job {job_id} failed ({error}) and the failure could not be recorded: {store_exc}",
                  file=sys.stderr, flush=True)


def load_result(job_id: str, *, cache_dir: str | pathlib.Path | None = None,
                store: JobStore | None = None) -> RunResult:
    """Rebuild a :class:`RunResult` of any stored job from its events (``store``: an open one)."""
    if store is None:
        with JobStore(cache_dir) as opened:
            return load_result(job_id, store=opened)
    record = store.get_job(job_id)
    events = store.events(job_id)
    rounds, epochs = events_to_frames(events)
    summary = build_summary(record, events, rounds, versions={"torch": torch.__version__})
    return RunResult(job_id, record["status"], Config.from_dict(record["config"]), store.run_dir(job_id),
                     rounds, epochs, summary)
