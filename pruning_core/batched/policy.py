"""Where seed batching pays, per device (by measurement).

``batching_pays(device, model_name, n)`` answers from the figures measured with
``benchmarks/bench_seeds.py`` (one epoch of N seeds of LeNet-300-100, batched time / one-by-one
time), and ``$PRUNELAB_SEED_BATCHING`` overrides it (``0``/``off``: never, ``1``/``on``: whenever
the model can be batched, ``auto``: the measurement):

* CPU (the 2-core development VM, torch 2.14, NAdam, median of 3 interleaved epochs;
  ``bench_seeds.py --device cpu --ns 1,2,5 --repeats 3 [--threads 1]``, 2026-12-03 at load
  average about 1): batched / one-by-one = 1.48 (N = 1), 1.42 (N = 2), 1.14 (N = 5) with one torch
  thread, as the worker trains on this machine (MEASURED); 1.98, 1.33, 0.86 with two. An earlier
  run at load average 10-13 gave 2.00, 1.12, 0.86 with one thread; on the 1,437 digits (per-step
  overhead dominates) 1.88, 1.05, 0.66.
  vmap adds per-step overhead (N = 1 costs 1.5-2x) and the matrix products are already
  compute-bound, so batching does not pay here: the answer on CPU is **no**;
* CUDA: one LeNet-300-100 step is launch-bound (a few hundred thousand MACs per sample at batch 60),
  so N copies in one set of kernels cost about one; the issue's target is 5 seeds <= 1.5x one
  seed. No GPU figure yet, so the runner measures: :func:`measure_ratio` times 30 steps of both
  ways on the job's own device and data (after a warm-up pass of each; cached per process) and
  batching is chosen when it saves more than 20 %. Put the figures of ``bench_seeds.py`` on a GPU
  into MEASURED to answer without measuring.
"""

from __future__ import annotations

import copy
import os
import time
from typing import Callable

import torch

from ..data import DeviceDataset
from ..models import build_model
from ..train import train_epochs
from .checks import NotBatchable
from .stack import StackedModel
from .trainer import train_stacked

ENV = "PRUNELAB_SEED_BATCHING"
SETTINGS = ("auto", "on", "off", "1", "0", "true", "false", "yes", "no")   # on: wherever the model allows

#: Models with neither buffers (BatchNorm) nor dropout: what :class:`StackedModel` accepts.
BATCHABLE_MODELS = ("lenet300_100", "lenet5", "conv2", "conv4", "conv6")

#: Measured batched-N / one-by-one-N epoch time, by (device type, model): {N: ratio}.
#: < 1 means batching is faster. See the module docstring and benchmarks/bench_seeds.py.
MEASURED: dict[tuple[str, str], dict[int, float]] = {
    ("cpu", "lenet300_100"): {1: 1.48, 2: 1.42, 5: 1.14},     # Fashion-MNIST, one epoch, NAdam, batch 60
}
#: The most repeats a worker trains as one batched model (its own and its peers' together).
MAX_SEEDS_TOGETHER = 16
#: Batching is chosen when the measured ratio is below this: a saving of more than 20 %, larger
#: than the run-to-run noise of the CPU figures (the same N = 5 ratio measured 0.86 and 1.14).
MARGIN = 0.8


def batching_pays(device: torch.device | str, model_name: str, n: int,
                  measure: Callable[[], float] | None = None) -> bool:
    """Whether ``n`` repeats of ``model_name`` on ``device`` should train as one batched model.

    From the figure in :data:`MEASURED` where there is one; on a GPU without one, from
    ``measure()`` (batched / one-by-one time on the actual device and data, e.g.
    :func:`measure_ratio`), or yes when no measurement is offered; elsewhere no."""
    setting = os.environ.get(ENV, "auto").strip().lower()
    if setting not in SETTINGS:
        raise ValueError(f"${ENV}: got {setting!r}; allowed: {', '.join(SETTINGS)}")
    if n < 2 or model_name not in BATCHABLE_MODELS or setting in ("0", "off", "false", "no"):
        return False
    if setting in ("1", "on", "true", "yes"):
        return True
    kind = torch.device(device).type
    figures = MEASURED.get((kind, model_name))
    if figures is None:
        if kind != "cuda":
            return False
        return True if measure is None else measure() < MARGIN
    nearest = max((k for k in figures if k <= n), default=min(figures))
    return figures[nearest] < MARGIN


def may_pay(device: torch.device | str, model_name: str) -> bool:
    """Whether batching could pay for some number of repeats (2 … ``MAX_SEEDS_TOGETHER``) of
    ``model_name`` on ``device``, without measuring: False where it never does (this CPU, a
    model with batch norm, batching off), so the worker need not even look for peers."""
    return any(batching_pays(device, model_name, n) for n in range(2, MAX_SEEDS_TOGETHER + 1))


_RATIOS: dict[tuple, float] = {}


def measure_ratio(data: DeviceDataset, cfg, model_name: str, n: int, steps: int = 30) -> float:
    """Batched / one-by-one time of ``steps`` training steps of ``n`` copies on ``data``'s device
    (after one untimed warm-up pass each); cached per (device, model, n, batch size). Leaves the
    global random state as it was."""
    key = (str(data.device), model_name, n, cfg.batch_size, steps)

    def measure() -> float:
        sub = DeviceDataset(data.spec, data.train_x[:steps * cfg.batch_size], data.train_y[:steps * cfg.batch_size],
                            data.test_x[:1], data.test_y[:1], device=data.device)
        with torch.random.fork_rng(devices=[data.device] if data.device.type == "cuda" else []):
            models = []
            for seed in range(n):
                torch.manual_seed(seed)
                models.append(build_model(model_name, in_channels=data.spec.in_channels,
                                          num_classes=data.spec.num_classes,
                                          input_size=data.spec.input_size).to(data.device))

            def one() -> float:
                start = time.perf_counter()
                for m in copy.deepcopy(models):
                    train_epochs(m, sub, cfg, [0], lambda t: cfg.lr, torch.Generator().manual_seed(0))
                return time.perf_counter() - start

            def batched() -> float:
                start = time.perf_counter()
                stacked = StackedModel(copy.deepcopy(models))
                train_stacked(stacked, sub, cfg, [0], lambda t: cfg.lr,
                              [torch.Generator().manual_seed(0) for _ in range(n)])
                return time.perf_counter() - start

            one(), batched()
            return min(batched() for _ in range(2)) / min(one() for _ in range(2))

    if key not in _RATIOS:
        _RATIOS[key] = measure()
    return _RATIOS[key]


__all__ = ["BATCHABLE_MODELS", "ENV", "MAX_SEEDS_TOGETHER", "MEASURED", "NotBatchable", "batching_pays",
           "may_pay", "measure_ratio"]
