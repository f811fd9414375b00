"""What every algorithm receives: the run's context, and a progress/ETA tracker."""

from __future__ import annotations

import pathlib
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..config import Config
from ..data import DeviceDataset


class Progress:
    """Counts finished epochs against the planned total and estimates the remaining time."""

    def __init__(self, total_epochs: int, done: int = 0):
        self.total = total_epochs
        self.done = done
        self._session_done = 0
        self._start = time.perf_counter()

    def epoch_done(self) -> None:
        self.done += 1
        self._session_done += 1

    def eta_seconds(self) -> float | None:
        """Mean seconds per epoch so far (this session) × epochs left; None before the first."""
        if self._session_done == 0:
            return None
        per_epoch = (time.perf_counter() - self._start) / self._session_done
        return per_epoch * max(0, self.total - self.done)


@dataclass
class RunContext:
    """Everything one repeat of an algorithm needs from the runner."""

    config: Config
    data: DeviceDataset
    device: torch.device
    run_dir: pathlib.Path
    emit: Callable[..., None]                 # emit(kind, **fields): one event
    should_stop: Callable[[], bool]           # polled between training steps
    progress: Progress
    resume: bool = False
    on_step: Callable[[], None] | None = field(default=None)   # test hook, called after every step
