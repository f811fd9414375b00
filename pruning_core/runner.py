"""Run an experiment: resolve the device, load data, run every repeat, record everything.

:func:`run` is the one entry point the CLI, the app's worker and notebooks share. It creates a
job record in the store (or continues a given one), streams every event to the store and to an
optional callback, and returns a :class:`RunResult` with the rounds and epochs as DataFrames.
Whatever happens — success, cancellation, an exception — the finished rounds stay in the store
and the run folder, and the job record says how it ended.
"""

from __future__ import annotations

import os
import pathlib
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .algorithms import ALGORITHMS, Progress, RunContext
from .config import Config
from .data import load_dataset
from .events import Event, events_to_frames, make_event
from .jobs.store import JobStore
from .masks import Masks, load_masks
from .models import check_compatible
from .summary import build_summary
from .train import Cancelled

HEARTBEAT_SECONDS = 1.0


def resolve_device(name: str) -> torch.device:
    """'auto' → CUDA if available, else CPU; otherwise the named device (checked to exist)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: got {name!r} but CUDA is not available here; allowed: auto, cpu")
    return device


def device_label(device: torch.device) -> str:
    """Human name of the device, e.g. 'cuda:0 (NVIDIA H100 80GB HBM3)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({torch.get_num_threads()} threads)"


@dataclass
class RunResult:
    """The outcome of :func:`run`: tables built from the events, and access to the masks."""

    job_id: str
    status: str
    config: Config
    run_dir: pathlib.Path
    rounds: Any          # pandas DataFrame, one row per (repeat, round)
    epochs: Any          # pandas DataFrame, one row per (repeat, round, epoch)
    summary: dict

    def masks(self, round_index: int = -1, repeat: int = 0, device: str = "cpu") -> Masks:
        """The masks after round ``round_index`` (−1 = the last finished) of one repeat."""
        folder = self.run_dir / f"repeat_{repeat}" / "masks"
        files = sorted(folder.glob("round_*.npz"))
        if not files:
            raise FileNotFoundError(f"no masks in {folder}")
        path = files[round_index] if round_index < 0 else folder / f"round_{round_index:03d}.npz"
        return load_masks(path, device)


def run(config: Config | dict, on_event: Callable[[Event], None] | None = None, *,
        cache_dir: str | pathlib.Path | None = None, job_id: str | None = None,
        cancel: threading.Event | None = None, resume: bool = False, origin: str = "api",
        on_step: Callable[[], None] | None = None) -> RunResult:
    """Run a pruning experiment and return its results.

    ``config`` is a :class:`Config` or a partial dict (validated here). Events go to the job
    store under ``cache_dir`` (default ``cache/``) and to ``on_event``. Give ``job_id`` to run an
    existing (queued) job and ``resume=True`` to continue it after its last finished round.
    Setting ``cancel`` stops the run between two training steps; the status becomes ``cancelled``
    and finished rounds are kept. An exception is recorded in the job (status ``failed``, with
    its traceback) and re-raised.
    """
    config = config if isinstance(config, Config) else Config.from_dict(config)
    store = JobStore(cache_dir)
    if job_id is None:
        job_id = store.create_job(config.to_dict(), config.hash(), status="running", origin=origin)["id"]
    run_dir = store.run_dir(job_id)
    run_dir.mkdir(parents=True, exist_ok=True)

    def emit(kind: str, **fields: Any) -> None:
        event = make_event(kind, job=job_id, **fields)
        store.append_event(job_id, event)
        if on_event is not None:
            on_event(event)

    last_beat = [0.0]

    def should_stop() -> bool:
        if cancel is not None and cancel.is_set():
            return True
        now = time.monotonic()
        if now - last_beat[0] < HEARTBEAT_SECONDS:
            return False
        last_beat[0] = now
        return store.heartbeat(job_id, progress=progress_fields())

    already = len({(e["repeat"], e["round"], e["epoch"]) for e in store.events(job_id) if e["type"] == "epoch"}) \
        if resume else 0
    progress = Progress(config.repeats * config.total_epochs(), done=already)

    def progress_fields() -> dict:
        return {"epochs_done": progress.done, "epochs_total": progress.total,
                "eta_seconds": progress.eta_seconds()}

    status, started = "running", time.time()
    try:
        device = resolve_device(config.device)
        store.update_job(job_id, status="running", started=store.get_job(job_id)["started"] or started,
                         heartbeat=started, worker_pid=os.getpid(), device=device_label(device),
                         cancel_requested=False)
        data = load_dataset(config.dataset.name, data_dir=config.dataset.data_dir, device=device,
                            download=config.dataset.download, augment=config.dataset.augment)
        spec = data.spec
        check_compatible(config.model.name, in_channels=spec.in_channels, num_classes=spec.num_classes,
                         input_size=spec.input_size)
        algorithm = ALGORITHMS[config.algorithm.name]
        for repeat in range(config.repeats):
            emit("run_started", config_hash=config.hash(), device=device_label(device), repeat=repeat,
                 seed=config.seed + repeat, planned_epochs=progress.total, dataset_source=data.source)
            ctx = RunContext(config, data, device, run_dir, emit, should_stop, progress,
                             resume=resume, on_step=on_step)
            algorithm(ctx, repeat)
        status = "finished"
    except Cancelled:
        status = "cancelled"
    except BaseException as exc:
        status = "failed"
        store.update_job(job_id, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        emit("run_failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if status != "failed":
            emit(f"run_{status}")
        store.update_job(job_id, status=status, finished=time.time(), heartbeat=time.time(),
                         progress=progress_fields())
    result = load_result(job_id, cache_dir=store.root)
    store.close()
    return result


def load_result(job_id: str, *, cache_dir: str | pathlib.Path | None = None) -> RunResult:
    """Rebuild a :class:`RunResult` of any stored job from its events."""
    with JobStore(cache_dir) as store:
        record = store.get_job(job_id)
        events = store.events(job_id)
        run_dir = store.run_dir(job_id)
    rounds, epochs = events_to_frames(events)
    summary = build_summary(record, events, rounds, versions={"torch": torch.__version__})
    return RunResult(job_id, record["status"], Config.from_dict(record["config"]), run_dir, rounds, epochs, summary)
