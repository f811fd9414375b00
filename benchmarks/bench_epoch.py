"""Time one training epoch of LeNet-300-100 on Fashion-MNIST: the Prunelab engine vs. a hand-written baseline.

What it measures
    One epoch = 60,000 training images at batch 60 (1,000 steps, the LR set every step), then
    evaluation on the 10,000 test images (batch 1,000), on a LeNet-300-100 pruned to 20 % by global
    magnitude. Both sides start from the same initial weights and mask, use the engine's default
    optimizer (``make_optimizer(TrainingConfig())``: NAdam, lr 1.2e-3, weight decay 1e-4, foreach)
    and the same data order (``randperm`` of the same seed), so they do the same arithmetic and
    should end at (nearly) the same test accuracy.

    * engine    ``load_dataset("fashion_mnist")`` (whole dataset as tensors on the device) and
                ``train_epochs(..., enforcer=MaskEnforcer(...))``, called as IMP calls it.
    * baseline  ``torchvision.datasets.FashionMNIST`` (ToTensor + Normalize, per sample) with a
                ``DataLoader(batch_size=60, shuffle=True, num_workers=W)`` and the mask applied by
                ``torch.prune.custom_from_mask`` forward hooks. Each W of ``--workers``
                is timed (W > 0 with persistent workers); the ratio uses the fastest baseline.

    A few untimed warm-up steps run on each side first; then every repeat times one epoch of each
    side in turn (interleaved, in this one process, each from the same initial weights), and the
    table reports the median over ``--repeats``.

How to run
    python3 dev.py bench                     # = .venv/bin/python benchmarks/bench_epoch.py
    .venv/bin/python benchmarks/bench_epoch.py --repeats 5 --threads 1 --workers 0,2

How to read the output
    One row per side: median seconds per epoch (training + evaluation), training steps per second
    over that time, the final test accuracy, and baseline/engine = how many times slower that row
    is than the engine (> 1: the engine is faster). The last lines say whether the pruned weights
    are exactly zero on both sides at the end, and whether the issue's target (engine >= 3x faster
    than the best baseline) is met. On a busy or 2-core CPU, ``--threads 1`` avoids OpenMP
    oversubscription, which can slow *both* sides down by an order of magnitude.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import math
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from pruning_core.config import TrainingConfig  # noqa: E402
from pruning_core.data import DatasetNotAvailable, load_dataset  # noqa: E402
from pruning_core.masks import MaskEnforcer, full_masks, prunable_parameters  # noqa: E402
from pruning_core.models import build_model  # noqa: E402
from pruning_core.pruners import prune_unstructured, score_weights  # noqa: E402
from pruning_core.schedules import LRSchedule  # noqa: E402
from pruning_core.train import Cancelled, make_optimizer, train_epochs  # noqa: E402

IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST, as in pruning_core.data.DATASETS
RATE, SEED, WARMUP_STEPS = 0.2, 0, 20


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- engine side
def engine_epoch(model, data, cfg, masks, lr_at, seed, max_steps=None):
    """One epoch through ``train_epochs`` exactly as IMP runs a pruned round; returns EpochStats."""
    enforcer = MaskEnforcer(prunable_parameters(model), masks)
    enforcer.mask_weights()
    steps = [0]

    def should_stop() -> bool:  # IMP passes the runner's (cheap) cancel/heartbeat poll here
        steps[0] += 1
        return max_steps is not None and steps[0] > max_steps

    return train_epochs(model, data, cfg, schedule_epochs=range(0, 1), lr_at=lr_at,
                        generator=torch.Generator().manual_seed(seed), enforcer=enforcer,
                        should_stop=should_stop)[0]


# ----------------------------------------------------------------------------- baseline side
def torchvision_root(source: str, tmp: pathlib.Path) -> pathlib.Path:
    """A root with ``FashionMNIST/raw/<stem>`` (uncompressed), as torchvision wants, from ``source``."""
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
    extra = dict(num_workers=workers, persistent_workers=workers > 0, pin_memory=device.type == "cuda")
    # shuffle=True, with the sampler's generator reseeded every epoch (baseline_epoch): RandomSampler
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
    """A textbook loop: one epoch of training, then test accuracy. Returns (test_accuracy, train_loss)."""
    train_loader, test_loader = loaders
    train_loader.sampler.generator.manual_seed(seed)
    optimizer = make_optimizer(cfg, model.parameters())
    n = len(train_loader)
    model.train()
    loss_sum = torch.zeros((), device=device)
    for i, (x, y) in enumerate(train_loader):
        if max_steps is not None and i >= max_steps:
            return None
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(i / n)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * y.shape[0]
    model.eval()
    correct = 0
    with torch.inference_mode():
        for x, y in test_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            correct += int((model(x).argmax(1) == y).sum())
    return correct / len(test_loader.dataset), loss_sum.item() / len(train_loader.dataset)


# ----------------------------------------------------------------------------- main
def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    p.add_argument("--batch-size", type=int, default=60)
    p.add_argument("--repeats", type=int, default=3, help="timed epochs per side; the median is reported")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--workers", default="0,2", help="DataLoader num_workers values to time for the baseline")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but CUDA is not available")
    workers = [int(w) for w in args.workers.split(",")]
    cfg = TrainingConfig(batch_size=args.batch_size)
    try:
        data = load_dataset("fashion_mnist", device=device, download=False)
    except DatasetNotAvailable as exc:
        print(f"error: Fashion-MNIST not found, nothing to benchmark.\n{exc}", file=sys.stderr)
        return 2

    torch.manual_seed(SEED)
    init = build_model("lenet300_100", in_channels=1, num_classes=10, input_size=(28, 28)).to(device)
    params = prunable_parameters(init)
    masks = prune_unstructured(score_weights("magnitude", params), full_masks(params), RATE, "global")
    steps = math.ceil(data.n_train / cfg.batch_size)
    schedule = LRSchedule(cfg)
    lr_at = lambda t: schedule(t, steps)  # noqa: E731 - IMP's replay(t)
    alive = sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
    print(f"LeNet-300-100, Fashion-MNIST ({data.source}), device {device} ({torch.get_num_threads()} threads), "
          f"batch {cfg.batch_size} ({steps} steps/epoch), {alive:.0%} of weights alive, "
          f"torch {torch.__version__}", flush=True)

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="prunelab-bench-"))
    try:
        root = torchvision_root(data.source, tmp)
        loaders = {w: baseline_loaders(root, cfg.batch_size, cfg.eval_batch_size, w, device) for w in workers}
        # Warm-up: a few untimed steps on each side (allocator, kernels, worker start-up).
        try:
            engine_epoch(copy.deepcopy(init), data, cfg, masks, lr_at, SEED, max_steps=WARMUP_STEPS)
        except Cancelled:
            pass
        for w in workers:
            baseline_epoch(hooked_model(init, masks), loaders[w], cfg, lr_at, SEED, device,
                           max_steps=WARMUP_STEPS)

        sides = ["engine"] + [f"baseline, workers={w}" for w in workers]
        times = {s: [] for s in sides}
        accuracy = {}
        for r in range(args.repeats):
            order = sides if r % 2 == 0 else sides[::-1]  # alternate the order to spread drift
            for side in order:
                if side == "engine":
                    engine_model = copy.deepcopy(init)
                else:
                    baseline_model = hooked_model(init, masks)
                sync(device)
                start = time.perf_counter()
                if side == "engine":
                    accuracy[side] = engine_epoch(engine_model, data, cfg, masks, lr_at, SEED).test_accuracy
                else:
                    accuracy[side], _ = baseline_epoch(baseline_model, loaders[int(side.split("=")[1])],
                                                       cfg, lr_at, SEED, device)
                sync(device)
                times[side].append(time.perf_counter() - start)
                print(f"  repeat {r + 1}/{args.repeats}  {side:<20} {times[side][-1]:7.2f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    median = {s: statistics.median(t) for s, t in times.items()}
    best = min(sides[1:], key=median.get)
    print(f"\n{'side':<22}{'s/epoch':>9}{'steps/s':>9}{'test acc':>10}{'baseline/engine':>17}")
    for s in sides:
        print(f"{s:<22}{median[s]:9.2f}{steps / median[s]:9.0f}{accuracy[s]:10.4f}"
              f"{median[s] / median['engine']:16.2f}x")

    # Pruned weights must be exactly zero on both sides after training (baseline: the hooked weight).
    modules = dict(baseline_model.named_modules())
    eng_params = prunable_parameters(engine_model)
    eng_zero = all(bool((eng_params[n].detach()[~m] == 0).all()) for n, m in masks.items())
    base_zero = all(bool((getattr(modules[n.rsplit(".", 1)[0]], "weight").detach()[~m] == 0).all())
                    for n, m in masks.items())
    print(f"\npruned weights exactly zero after the epoch: engine {'yes' if eng_zero else 'NO'}, "
          f"baseline {'yes' if base_zero else 'NO'}")
    ratio = median[best] / median["engine"]
    print(f"engine vs best baseline ({best}): {ratio:.2f}x faster; target >= 3x: "
          f"{'met' if ratio >= 3 else 'NOT met'}")
    return 0 if eng_zero and base_zero else 1


if __name__ == "__main__":
    sys.exit(main())
