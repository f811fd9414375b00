"""One job record while it runs: its events, heartbeat and cancel flag, progress, and its end.

:class:`JobSession` is what :func:`pruning_core.runner.run` does around the training of one job,
kept apart so that several jobs can run in one process together (lockstep peers of a sweep trained
as one batched model): each has its own session, and each ends on its own — finished, cancelled, or
failed with the reason written into its record.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable

import torch

from .config import Config
from .data import DeviceDataset
from .datadirs import check_app_data_dir
from .devices import device_label
from .errors import StoreError
from .events import Event, make_event
from .jobs.store import JobStore
from .loop import Progress, RunContext
from .rundir import RunDir

HEARTBEAT_SECONDS = 1.0


def _epochs_committed(config: Config, plan, run_dir: RunDir) -> int:
    """Epochs of the rounds every repeat has committed: where a resumed run's progress starts
    (epochs of a round that was interrupted are trained again, so they do not count)."""
    done = 0
    for repeat in range(config.repeats):
        state = run_dir.repeat(repeat).committed()
        done += 0 if state is None else plan.epochs_through(state["round"])
    return done


class JobSession:
    """A job record being run by this process, from ``running`` to how it ended."""

    def __init__(self, store: JobStore, config: Config, job_id: str, *,
                 on_event: Callable[[Event], None] | None = None, cancel: threading.Event | None = None,
                 resume: bool = False, origin: str = "api"):
        self.store, self.config, self.job_id = store, config, job_id
        self.on_event, self.cancel, self.resume, self.origin = on_event, cancel, resume, origin
        self.progress = Progress(0)
        self.status: str | None = None          # how it ended; None while it runs
        self.run_dir: RunDir | None = None
        self.plan = None
        self._last_beat = 0.0

    def emit(self, kind: str, **fields: Any) -> None:
        """One event of this job: into the store, then to ``on_event``."""
        event = make_event(kind, job=self.job_id, **fields)
        self.store.append_event(self.job_id, event)
        if self.on_event is not None:
            self.on_event(event)

    def progress_fields(self) -> dict:
        return {"epochs_done": self.progress.done, "epochs_total": self.progress.total,
                "eta_seconds": self.progress.eta_seconds()}

    def should_stop(self) -> bool:
        """Polled between training steps: the cancel event, else (at most once a second) the
        heartbeat, which answers whether cancellation was requested in the store."""
        if self.cancel is not None and self.cancel.is_set():
            return True
        now = time.monotonic()
        if now - self._last_beat < HEARTBEAT_SECONDS:
            return False
        self._last_beat = now
        return self.store.heartbeat(self.job_id, progress=self.progress_fields())

    def open(self, device: torch.device) -> None:
        """The run folder (what a resumed run had not committed discarded), the plan and the
        progress, and the record marked ``running`` on ``device`` by this process."""
        if self.origin == "app":
            check_app_data_dir(self.config.dataset.data_dir)
        self.run_dir = self.store.run_dir(self.job_id).mkdir()
        if self.resume:
            self.run_dir.discard_uncommitted()
        self.plan = self.config.plan()
        done = _epochs_committed(self.config, self.plan, self.run_dir) if self.resume else 0
        self.progress = Progress(self.config.repeats * self.plan.total_epochs(), done=done)
        started = time.time()
        self.store.update_job(self.job_id, status="running", started=self.store.get_job(self.job_id)["started"] or started,
                              heartbeat=started, worker_pid=os.getpid(), device=device_label(device),
                              cancel_requested=False, progress=self.progress_fields())

    def context(self, data: DeviceDataset, device: torch.device, share_dense: bool) -> RunContext:
        """What the job's repeats train through (after :meth:`open`)."""
        return RunContext(self.config, self.plan, data, device, self.run_dir, self.emit, self.should_stop,
                          self.progress, self.resume, dense_root=self.store.root if share_dense else None,
                          job_id=self.job_id)

    def announce(self, device: torch.device, data: DeviceDataset, seeds_together: bool,
                 trained_with: list[str] | None = None) -> None:
        """One ``run_started`` event per repeat; ``trained_with``: the other jobs of its lockstep."""
        extra = {"trained_with": list(trained_with)} if trained_with else {}
        for repeat in range(self.config.repeats):
            self.emit("run_started", config_hash=self.config.hash(), device=device_label(device), repeat=repeat,
                      seed=self.config.seed + repeat, planned_epochs=self.progress.total,
                      dataset_source=data.source, seeds_together=seeds_together, **extra)

    def end(self, status: str, exc: BaseException | None = None) -> None:
        """Record how the job ended (once): ``finished`` or ``cancelled`` with its event, or
        ``failed`` with the reason and traceback of ``exc``. A store that cannot be written was
        reported by :func:`record_failure`; the job then shows as interrupted."""
        if self.status is not None:
            return
        self.status = status
        if status == "failed":
            record_failure(self.store, self.job_id, exc, self.emit)
        with contextlib.suppress(StoreError):
            if status != "failed":
                self.emit(f"run_{status}")
            self.store.update_job(self.job_id, status=status, finished=time.time(), heartbeat=time.time(),
                                  progress=self.progress_fields())


def record_failure(store: JobStore, job_id: str, exc: BaseException, emit) -> None:
    """Write the reason of a failure into the job record, then a ``run_failed`` event. When the
    store itself cannot be written (a full disk), the job shows as interrupted once its worker
    is gone, and the reason goes to the worker's output."""
    error = f"{type(exc).__name__}: {exc}"
    try:
        store.update_job(job_id, status="failed", finished=time.time(), error=error,
                         traceback="".join(traceback.format_exception(exc)))
        emit("run_failed", error=error)
    except StoreError as store_exc:
        with contextlib.suppress(OSError):
            print(f"job {job_id} failed ({error}) and the failure could not be recorded: {store_exc}",
                  file=sys.stderr, flush=True)
