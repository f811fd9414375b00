"""Seed batching (issue 11): N seeds of LeNet-300-100 trained as one batched model vs one by one.

What it measures
    One epoch (Fashion-MNIST: 60,000 images at batch 60 = 1,000 steps, then evaluation on the
    10,000 test images; or the 1,437 digits) of N copies of LeNet-300-100, each from its own seed,
    with its own 20 %-density random mask and its own data order, the engine's default optimizer
    (``make_optimizer(TrainingConfig())``: NAdam, LR 1.2e-3, weight decay 1e-4):

    * one by one  N calls of the engine's ``train_epochs`` (as the runner trains repeats now);
    * batched     one ``train_stacked`` call on a ``StackedModel`` of the N copies.

    For every N in ``--ns`` both sides are timed ``--repeats`` times (interleaved, from the same
    initial weights, after an untimed warm-up epoch of each side on a small slice); the table shows
    the median seconds and, per side, the ratio to one seed trained alone (one by one, N = 1): the
    issue's target on a GPU is batched N = 5 <= 1.5x.

How to run
    nice -n 15 .venv/bin/python benchmarks/bench_seeds.py                  # fashion_mnist, auto device
    .venv/bin/python benchmarks/bench_seeds.py --dataset digits --ns 1,2,5 --repeats 3 --device cpu

How to read the output
    One row per N: median seconds one by one and batched, each / (one by one, N = 1), and
    batched / one-by-one (< 1: batching pays). The 1-minute load average before and after is
    printed: on a shared CPU the figures move with the load.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pruning_core.batched import StackedModel, stack_masks, train_stacked  # noqa: E402
from pruning_core.config import TrainingConfig  # noqa: E402
from pruning_core.data import DeviceDataset, load_dataset  # noqa: E402
from pruning_core.masks import MaskEnforcer, prunable_parameters  # noqa: E402
from pruning_core.models import build_model  # noqa: E402
from pruning_core.train import train_epochs  # noqa: E402


def build_copies(data: DeviceDataset, n: int, device: torch.device, density: float):
    models, masks = [], []
    for seed in range(n):
        torch.manual_seed(seed)
        model = build_model("lenet300_100", in_channels=data.spec.in_channels, num_classes=data.spec.num_classes,
                            input_size=data.spec.input_size).to(device)
        gen = torch.Generator().manual_seed(1000 + seed)
        m = {k: (torch.rand(p.shape, generator=gen) < density).to(device)
             for k, p in prunable_parameters(model).items()}
        MaskEnforcer(prunable_parameters(model), m).mask_weights()
        models.append(model)
        masks.append(m)
    return models, masks


def gens(n: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(5000 + s) for s in range(n)]


def one_by_one(data, cfg, models, masks) -> float:
    start = time.perf_counter()
    for model, m, g in zip(models, masks, gens(len(models))):
        train_epochs(model, data, cfg, [0], lambda t: cfg.lr, g,
                     enforcer=MaskEnforcer(prunable_parameters(model), m))
    return time.perf_counter() - start


def batched(data, cfg, models, masks) -> float:
    start = time.perf_counter()
    stacked = StackedModel(models)
    train_stacked(stacked, data, cfg, [0], lambda t: cfg.lr, gens(len(models)), masks=stack_masks(masks))
    stacked.write_back(models)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="fashion_mnist", help="fashion_mnist (default) or digits")
    ap.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda")
    ap.add_argument("--ns", default="1,2,5", help="numbers of seeds, comma-separated")
    ap.add_argument("--repeats", type=int, default=1, help="timed epochs per side and N (median shown)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--density", type=float, default=0.2, help="fraction of weights alive under each mask")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    ns = [int(v) for v in args.ns.split(",")]
    if 1 not in ns:
        ns = [1] + ns
    data = load_dataset(args.dataset, device=device, download=False)
    cfg = TrainingConfig()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"seed batching: LeNet-300-100, {data.spec.name} ({data.n_train} train / {data.n_test} test), "
          f"batch {cfg.batch_size}, {cfg.optimizer}, one epoch; device {name}; torch {torch.__version__}")
    load0 = os.getloadavg()[0]
    print(f"load average (1 min) before: {load0:.2f}")

    warm = DeviceDataset(data.spec, data.train_x[:600], data.train_y[:600], data.test_x[:1000],
                         data.test_y[:1000], device=device)
    wm, wk = build_copies(warm, 2, device, args.density)
    one_by_one(warm, cfg, copy.deepcopy(wm), wk)
    batched(warm, cfg, wm, wk)

    rows = {}
    for n in ns:
        models, masks = build_copies(data, n, device, args.density)
        times = {"one": [], "batched": []}
        for r in range(args.repeats):
            order = ("one", "batched") if r % 2 == 0 else ("batched", "one")
            for side in order:
                fresh = copy.deepcopy(models)
                times[side].append((one_by_one if side == "one" else batched)(data, cfg, fresh, masks))
        rows[n] = {k: statistics.median(v) for k, v in times.items()}
        print(f"  N={n}: one by one {rows[n]['one']:.2f} s, batched {rows[n]['batched']:.2f} s", flush=True)
    base = rows[1]["one"]
    print(f"\n{'N':>3} {'one-by-one s':>13} {'batched s':>10} {'one-by-one/1 seed':>18} "
          f"{'batched/1 seed':>15} {'batched/one-by-one':>19}")
    for n, r in rows.items():
        print(f"{n:>3} {r['one']:>13.2f} {r['batched']:>10.2f} {r['one'] / base:>18.2f} "
              f"{r['batched'] / base:>15.2f} {r['batched'] / r['one']:>19.2f}")
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f} (before {load0:.2f})")
    if device.type == "cuda" and 5 in rows:
        ratio = rows[5]["batched"] / base
        verdict = "meets" if ratio <= 1.5 else "misses"
        print(f"issue 11 target (GPU, batched 5 seeds <= 1.5x one seed): {ratio:.2f}x, {verdict} it")


if __name__ == "__main__":
    main()
