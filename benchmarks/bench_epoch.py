"""Time one training epoch of LeNet-300-100 on Fashion-MNIST: the Prunelab engine vs. a hand-written baseline.

What it measures
    One epoch = the 60,000 training images at batch 60 (1,000 steps, LR set every step), then
    evaluation on the 10,000 test images (batch 1,000), of a LeNet-300-100 pruned to 20 % by global
    magnitude. Both sides start from the same initial weights and mask, use the engine's default
    optimizer (``make_optimizer(TrainingConfig())``: NAdam through Adam's fused kernel, lr 1.2e-3,
    weight decay 1e-4) and the same data order (``randperm`` from the same seed), so they do the same arithmetic and
    end at the same test accuracy (up to rounding).

    * engine    ``load_dataset("fashion_mnist")`` (the whole dataset as tensors on the device) and
                ``train_epochs(..., enforcer=MaskEnforcer(...))``, called as IMP calls it.
    * baseline  ``torchvision.datasets.FashionMNIST`` (ToTensor + Normalize per sample), a
                ``DataLoader(batch_size=60, shuffle=True, num_workers=W)`` and the mask applied by
                ``torch.nn.utils.prune.custom_from_mask`` forward hooks. Every W in ``--workers`` is
                timed (W > 0 with persistent workers); the verdict uses the fastest baseline.

    After a few untimed warm-up steps per side, each repeat times one epoch of every side in turn
    (interleaved, order alternating, in this one process, each from the initial weights); the table
    shows the median over ``--repeats`` and the best epoch.

How to run
    python3 dev.py bench                       # = .venv/bin/python benchmarks/bench_epoch.py
    python3 dev.py bench --threads 1 --repeats 5 --workers 0,1,2

How to read the output
    One row per side: median and best seconds per epoch (training + evaluation), training steps per
    second at the median, the final test accuracy, whether the pruned weights were exactly zero
    after every timed epoch, and baseline/engine = how many times longer that side takes than the
    engine (> 1: the engine is faster). The last line compares the engine with the fastest baseline
    against the issue's target (>= 3x). Timings need an otherwise idle machine: the 1-minute load
    average is printed before and after. On a 2-core CPU shared with anything else, torch's default
    of one OpenMP thread per core can slow every side down 10x or more; ``--threads 1`` avoids that.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import math
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from torch.nn.utils import prune

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from pruning_core.config import TrainingConfig
from pruning_core.data import DatasetNotAvailable, load_dataset
from pruning_core.masks import MaskEnforcer, full_masks, prunable_parameters
from pruning_core.models import build_model
from pruning_core.pruners.counting import prune_groups
from pruning_core.schedules import LRSchedule
from pruning_core.train import Cancelled, TrainCallbacks, evaluate, make_optimizer, train_epochs

IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST, as in pruning_core.data.DATASETS
RATE, SEED, WARMUP_STEPS = 0.2, 0, 20


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def pruned_are_zero(model, masks) -> bool:
    """Every pruned weight is exactly 0 (for a hooked model, the ``weight`` its last forward used)."""
    modules = dict(model.named_modules())
    return all(bool((modules[name.rsplit(".", 1)[0]].weight.detach()[~mask] == 0).all())
               for name, mask in masks.items())


# ----------------------------------------------------------------------------- engine side
def engine_epoch(model, data, cfg, masks, lr_at, seed, max_steps=None):
    """One epoch through ``train_epochs`` as IMP runs a pruned round; returns its EpochStats."""
    enforcer = MaskEnforcer(prunable_parameters(model), masks)
    enforcer.mask_weights()
    polls = [0]

    def should_stop() -> bool:  # IMP passes the runner's (cheap) cancel/heartbeat poll here
        polls[0] += 1
        return max_steps is not None and polls[0] > max_steps

    return train_epochs(model, data, cfg, range(1), lr_at, torch.Generator().manual_seed(seed),
                        enforcer=enforcer, callbacks=TrainCallbacks(should_stop=should_stop))[0]


# ----------------------------------------------------------------------------- baseline side
def torchvision_root(source: str, tmp: pathlib.Path) -> pathlib.Path:
    """A root holding ``FashionMNIST/raw/<file>`` uncompressed (torchvision reads no .gz) from ``source``."""
    raw = tmp / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in IDX_STEMS:
        src = pathlib.Path(source) / stem
        if src.with_name(stem + ".gz").is_file():
            with gzip.open(src.with_name(stem + ".gz")) as fin, open(raw / stem, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        else:
            (raw / stem).symlink_to(src.resolve())
    return tmp


def baseline_loaders(root, batch_size, eval_batch_size, workers, device):
    from torch.utils.data import DataLoader, RandomSampler
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    train = datasets.FashionMNIST(str(root), train=True, transform=tf, download=False)
    test = datasets.FashionMNIST(str(root), train=False, transform=tf, download=False)
    extra = {"num_workers": workers, "persistent_workers": workers > 0, "pin_memory": device.type == "cuda"}
    # = shuffle=True, but with a sampler generator of its own, reseeded every epoch: RandomSampler
    # draws randperm(n) from it, so the baseline sees the engine's data order.
    sampler = RandomSampler(train, generator=torch.Generator())
    return (DataLoader(train, batch_size=batch_size, sampler=sampler, **extra),
            DataLoader(test, batch_size=eval_batch_size, shuffle=False, **extra))


def hooked_model(init_model, masks):
    """A copy of the initial model with ``prune.custom_from_mask`` hooks on every pruned layer."""
    model = copy.deepcopy(init_model)
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        prune.custom_from_mask(modules[name.rsplit(".", 1)[0]], "weight", mask)
    return model


def baseline_epoch(model, loaders, cfg, lr_at, seed, device, max_steps=None):
    """A textbook loop: one epoch of training, then the test accuracy (None after ``max_steps``)."""
    train_loader, test_loader = loaders
    train_loader.sampler.generator.manual_seed(seed)
    optimizer = make_optimizer(cfg, model.parameters())
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")  # as the engine
    n = len(train_loader)
    model.train()
    for i, (x, y) in enumerate(train_loader):
        if max_steps is not None and i >= max_steps:
            next(iter(test_loader))  # start its workers too
            return None
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(i / n)
        with autocast:
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    with torch.inference_mode(), autocast:
        for x, y in test_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            correct += (model(x).argmax(1) == y).sum()
    return correct.item() / len(test_loader.dataset)


# ----------------------------------------------------------------------------- main
def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    p.add_argument("--batch-size", type=int, default=60)
    p.add_argument("--repeats", type=int, default=3, help="timed epochs per side; the median is reported")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--workers", default="0,2", help="comma-separated DataLoader num_workers to time")
    args = p.parse_args(argv)
    try:
        args.workers = sorted({int(w) for w in args.workers.split(",")})
    except ValueError:
        p.error(f"--workers: expected comma-separated integers, got {args.workers!r}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but CUDA is not available here", file=sys.stderr)
        return 2
    cfg = TrainingConfig(batch_size=args.batch_size)
    try:
        data = load_dataset("fashion_mnist", device=device, download=False)
    except DatasetNotAvailable as exc:
        print(f"error: Fashion-MNIST not found, nothing to benchmark.\n{exc}", file=sys.stderr)
        return 2

    torch.manual_seed(SEED)
    init = build_model("lenet300_100", in_channels=1, num_classes=10, input_size=(28, 28)).to(device)
    params = prunable_parameters(init)
    scores = {n: p.detach().abs().float() for n, p in params.items()}      # global magnitude, as the engine ranks
    masks = prune_groups(scores, full_masks(params), [(tuple(params), RATE)])
    steps = math.ceil(data.n_train / cfg.batch_size)
    schedule = LRSchedule(cfg)
    lr_at = lambda t: schedule(t, steps)  # IMP's replay(t)
    print(f"LeNet-300-100 pruned {RATE:.0%} (global magnitude), Fashion-MNIST from {data.source}\n"
          f"device {device}, {torch.get_num_threads()} torch thread(s), {os.cpu_count()} CPUs, batch "
          f"{cfg.batch_size} ({steps} steps/epoch), torch {torch.__version__}, "
          f"load average before: {os.getloadavg()[0]:.2f}", flush=True)

    sides = ["engine"] + [f"baseline, workers={w}" for w in args.workers]
    times = {s: [] for s in sides}
    accuracy, zero = {}, {s: True for s in sides}
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="prunelab-bench-"))
    try:
        root = torchvision_root(data.source, tmp)
        loaders = {w: baseline_loaders(root, cfg.batch_size, cfg.eval_batch_size, w, device) for w in args.workers}
        # Warm-up, untimed: a few steps per side (kernels, allocator, DataLoader workers).
        warm = copy.deepcopy(init)
        try:
            engine_epoch(warm, data, cfg, masks, lr_at, SEED, max_steps=WARMUP_STEPS)
        except Cancelled:  # raised by train_epochs once should_stop() says so
            evaluate(warm, data, cfg.eval_batch_size)
        for w in args.workers:
            baseline_epoch(hooked_model(init, masks), loaders[w], cfg, lr_at, SEED, device, WARMUP_STEPS)

        for r in range(args.repeats):
            for side in (sides if r % 2 == 0 else sides[::-1]):
                model = copy.deepcopy(init) if side == "engine" else hooked_model(init, masks)
                sync(device)
                start = time.perf_counter()
                if side == "engine":
                    accuracy[side] = engine_epoch(model, data, cfg, masks, lr_at, SEED).test_accuracy
                else:
                    workers = int(side.split("=")[1])
                    accuracy[side] = baseline_epoch(model, loaders[workers], cfg, lr_at, SEED, device)
                sync(device)
                times[side].append(time.perf_counter() - start)
                zero[side] &= pruned_are_zero(model, masks)
                print(f"  repeat {r + 1}/{args.repeats}  {side:<20} {times[side][-1]:7.2f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    median = {s: statistics.median(t) for s, t in times.items()}
    print(f"\n{'side':<21}{'median s':>9}{'best s':>8}{'steps/s':>9}{'test acc':>9}{'pruned=0':>9}"
          f"{'baseline/engine':>16}")
    for s in sides:
        print(f"{s:<21}{median[s]:9.2f}{min(times[s]):8.2f}{steps / median[s]:9.0f}{accuracy[s]:9.4f}"
              f"{'yes' if zero[s] else 'NO':>9}{median[s] / median['engine']:15.2f}x")
    fastest = min(sides[1:], key=median.get)
    ratio = median[fastest] / median["engine"]
    print(f"\nload average after: {os.getloadavg()[0]:.2f}\nengine vs fastest baseline ({fastest}): "
          f"{ratio:.2f}x faster (median epochs); target >= 3x: {'met' if ratio >= 3 else 'NOT met'}")
    return 0 if all(zero.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
