"""How close the engine's epoch comes to the matrix-product floor (LeNet-300-100, Fashion-MNIST, batch 128).

What it measures, all in this one process, interleaved (order alternating every repeat):

* floor     the forward and backward matrix products of one epoch and nothing else: for the 60,000
            training images at batch 128 (469 steps, the last one 96 wide), the three forward
            ``addmm`` (784→300→100→10), the three weight-gradient ``mm`` and the two input-gradient
            ``mm`` (none for the input layer), into preallocated outputs; then the forward
            products of evaluation (10,000 test images at batch 1,000). No activation, no loss, no
            optimizer, no data movement: a lower bound for any implementation.
* engine    ``train_epochs`` for one epoch as IMP runs a round pruned to 20 % (``MaskEnforcer``,
            NAdam, LR set every step, cancel poll every step), training + evaluation.
* torch optim  the masked epoch with torch's stock optimizer class (``stock_optimizer``) instead
            of the engine's: what the engine's own optimizer kernels save.
* unmasked  the same epoch without a mask (``enforcer=None``): the masked/unmasked ratio is the
            cost of keeping pruned weights at zero (target ≤ 1.05×). The verdict uses the two
            epochs run side by side, a step of each in turn (``interleaved_steps``), which a
            shared machine's slow phases cannot skew towards one side.
* baseline  the hand-written ``torch.nn.utils.prune`` hooks + torchvision dataset + ``DataLoader``
            loop of ``bench_epoch.py`` (``num_workers=0``), same weights, mask, optimizer and order.
* optimizer the optimizer's step alone, CPU time per step on the model's parameters with fixed
            random gradients, for the engine's optimizer (``make_optimizer``: NAdam through Adam's
            fused kernel by default) and torch's stock class (``torch.optim.NAdam``, foreach). The
            epoch then splits into floor + optimizer steps + the rest of the loop; ``--optimizer``
            times the whole run with SGD or Adam instead.
* threshold the global magnitude threshold of one pruning step over ResNet-50's 25.5 M conv/linear
            weights (random normal), one ``kthvalue`` on a flat concatenated view (target < 1 s on CPU).

How to run
    .venv/bin/python benchmarks/bench_floor.py                  # torch's default thread count
    .venv/bin/python benchmarks/bench_floor.py --threads 1
    .venv/bin/python benchmarks/bench_floor.py --no-baseline --repeats 5   # skip the slow DataLoader side

The table shows the median and the best time per side and every ratio to the floor; the load
average is printed before and after (timings on a shared machine are inflated and noisy: read the
ratios, which come from the same run). ``--json PATH`` writes the figures.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from pruning_core.config import TrainingConfig
from pruning_core.data import DatasetNotAvailable, load_dataset
from pruning_core.masks import MaskEnforcer, full_masks, prunable_parameters
from pruning_core.models import build_model
from pruning_core.pruners.counting import prune_groups
from pruning_core.schedules import LRSchedule
from pruning_core.train import TrainCallbacks, make_optimizer, train_epochs
from optimizer_timing import optimizer_step_seconds, stock_optimizer  # noqa: E402  (benchmarks/ on the path)

RATE, SEED = 0.2, 0


# ----------------------------------------------------------------------------- the floor
def floor_epoch(sizes: list[int], n_train: int, n_test: int, batch: int, eval_batch: int,
                dtype=torch.float32, device="cpu") -> float:
    """Seconds for the forward + backward matrix products of one epoch (and the eval forward)."""
    g = torch.Generator().manual_seed(0)
    ws = [torch.randn(o, i, generator=g).to(device, dtype) * 0.05 for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [torch.zeros(o, device=device, dtype=dtype) for o in sizes[1:]]
    gws = [torch.empty_like(w) for w in ws]

    def buffers(b):
        acts = [torch.randn(b, s, generator=g).to(device, dtype) for s in sizes]
        grads = [torch.randn(b, s, generator=g).to(device, dtype) for s in sizes]
        return acts, grads

    full, last = buffers(batch), buffers(n_train % batch) if n_train % batch else None
    ev_full, ev_last = buffers(eval_batch), buffers(n_test % eval_batch) if n_test % eval_batch else None

    def step(acts, grads, backward=True):
        for k, (w, b) in enumerate(zip(ws, bs)):       # forward: a[k+1] = a[k] Wᵀ + b
            torch.addmm(b, acts[k], w.t(), out=acts[k + 1])
        if backward:
            for k in reversed(range(len(ws))):           # backward: dW = gᵀ a, g[k] = g[k+1] W
                torch.mm(grads[k + 1].t(), acts[k], out=gws[k])
                if k > 0:
                    torch.mm(grads[k + 1], ws[k], out=grads[k])

    sync(device)
    start = time.perf_counter()
    for _ in range(n_train // batch):
        step(*full)
    if last:
        step(*last)
    for _ in range(n_test // eval_batch):
        step(*ev_full, backward=False)
    if ev_last:
        step(*ev_last, backward=False)
    sync(device)
    return time.perf_counter() - start


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- the global threshold
def resnet50_weight_shapes() -> list[tuple[int, ...]]:
    """Shapes of torchvision ResNet-50's conv and linear weights (25.5 M entries), without torchvision."""
    shapes = [(64, 3, 7, 7)]
    inplanes = 64
    for planes, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for b in range(blocks):
            shapes += [(planes, inplanes, 1, 1), (planes, planes, 3, 3), (planes * 4, planes, 1, 1)]
            if b == 0:
                shapes.append((planes * 4, inplanes, 1, 1))        # downsample
            inplanes = planes * 4
    shapes.append((1000, 2048))
    return shapes


def time_global_threshold(device="cpu", rate=0.2, repeats=3, scale=1.0) -> dict:
    """Seconds of one global magnitude pruning step's selection over ResNet-50's weights (``scale``
    < 1: fewer output channels, for quick runs), as ``FractionSelection`` does it: the scores of
    every layer → one flat concatenated view → one ``kthvalue`` (+ the exact tie rule) → per-layer
    masks (``prune_groups_kth``). Median of ``repeats``; the masks start all alive."""
    from pruning_core.pruners.selection import prune_groups_kth

    g = torch.Generator().manual_seed(0)
    shapes = [(max(1, int(s[0] * scale)), *s[1:]) for s in resnet50_weight_shapes()]
    scores = {f"w{i}": torch.randn(s, generator=g).abs().to(device) for i, s in enumerate(shapes)}
    masks = {k: torch.ones_like(v, dtype=torch.bool) for k, v in scores.items()}
    n = sum(v.numel() for v in scores.values())
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        new = prune_groups_kth(scores, masks, [(tuple(scores), rate)])
        sync(device)
        times.append(time.perf_counter() - start)
    kept = sum(int(m.sum()) for m in new.values())
    return {"weights": n, "seconds": statistics.median(times), "best_seconds": min(times),
            "pruned_fraction": 1 - kept / n}


# ----------------------------------------------------------------------------- engine sides
def engine_epoch(model, data, cfg, masks, lr_at, seed, optimizer=None) -> float:
    enforcer = None
    if masks is not None:
        enforcer = MaskEnforcer(prunable_parameters(model), masks)
        enforcer.mask_weights()
    polls = [0]

    def should_stop() -> bool:   # IMP's cancel/heartbeat poll: a cheap Python call per step
        polls[0] += 1
        return False

    sync(data.device)
    start = time.perf_counter()
    train_epochs(model, data, cfg, range(1), lr_at, torch.Generator().manual_seed(seed), enforcer=enforcer,
                 optimizer=optimizer, callbacks=TrainCallbacks(should_stop=should_stop))
    sync(data.device)
    return time.perf_counter() - start


def interleaved_steps(init, data, cfg, masks, lr_at, seed, skip=5) -> dict:
    """The masked and the unmasked epoch run side by side, one step each in turn (two threads
    passing a baton, only one ever running), each step timed from the loop's ``should_stop`` poll
    to its ``after_step``: the LR, forward, backward, optimizer step and (masked) mask multiply.

    Timing the two epochs whole lets a shared machine's slow phases fall on one side (the
    epoch ratio moved between 0.87x and 1.20x); step by step, both sides see the same moments.
    Returns the ratio of the summed step times (the first ``skip`` steps of each side dropped)
    and the median of the per-step ratios."""
    import threading

    turn = [0]
    baton = threading.Condition()
    times: dict[int, list[float]] = {0: [], 1: []}
    errors: list[BaseException] = []

    def side(index: int, side_masks) -> None:
        model = copy.deepcopy(init)
        enforcer = None
        if side_masks is not None:
            enforcer = MaskEnforcer(prunable_parameters(model), side_masks)
            enforcer.mask_weights()
        start = [0.0]

        def should_stop() -> bool:
            with baton:
                baton.wait_for(lambda: turn[0] == index)
            start[0] = time.perf_counter()
            return False

        def after_step(lr) -> None:
            times[index].append(time.perf_counter() - start[0])
            with baton:
                turn[0] = 1 - index
                baton.notify_all()

        try:
            train_epochs(model, data, cfg, range(1), lr_at, torch.Generator().manual_seed(seed), enforcer=enforcer,
                         callbacks=TrainCallbacks(should_stop=should_stop, after_step=after_step))
        except BaseException as exc:   # pragma: no cover - reported below
            errors.append(exc)
            with baton:
                turn[0] = 1 - index
                baton.notify_all()

    threads = [threading.Thread(target=side, args=(0, masks)), threading.Thread(target=side, args=(1, None))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    masked, unmasked = times[0][skip:-1], times[1][skip:-1]   # the last step may overlap the other's eval
    per_step = sorted(m / u for m, u in zip(masked, unmasked))
    return {"steps": len(masked), "masked_s": sum(masked), "unmasked_s": sum(unmasked),
            "ratio": sum(masked) / sum(unmasked), "median_step_ratio": per_step[len(per_step) // 2]}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--no-baseline", action="store_true", help="skip the DataLoader + prune hooks baseline")
    p.add_argument("--optimizer", choices=("nadam", "adam", "sgd"), default=None,
                   help="the training section's optimizer (default: the engine's default, NAdam)")
    p.add_argument("--json", default=None, help="write the figures to this JSON file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    cfg = TrainingConfig(batch_size=args.batch_size, **({"optimizer": args.optimizer} if args.optimizer else {}))
    try:
        data = load_dataset("fashion_mnist", device=device, download=False)
    except DatasetNotAvailable as exc:
        print(f"error: Fashion-MNIST not found, nothing to benchmark.\n{exc}", file=sys.stderr)
        return 2
    torch.manual_seed(SEED)
    init = build_model("lenet300_100", in_channels=1, num_classes=10, input_size=(28, 28))
    params = prunable_parameters(init)
    masks = prune_groups({n: p.detach().abs() for n, p in params.items()}, full_masks(params),
                         [(tuple(params), RATE)])
    steps = math.ceil(data.n_train / cfg.batch_size)
    schedule = LRSchedule(cfg)
    lr_at = lambda t: schedule(t, steps)
    load_before = os.getloadavg()
    print(f"LeNet-300-100 on Fashion-MNIST, {cfg.optimizer}, batch {cfg.batch_size} ({steps} steps), eval batch "
          f"{cfg.eval_batch_size}, {torch.get_num_threads()} torch thread(s), {os.cpu_count()} CPUs, torch "
          f"{torch.__version__}; load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}",
          flush=True)

    sides = ["floor", "engine (masked)", "engine (unmasked)", "engine (torch optim)"] + \
        ([] if args.no_baseline else ["baseline"])
    times = {s: [] for s in sides}
    cpu_times = {s: [] for s in sides}   # process CPU seconds: less sensitive to a loaded machine
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="prunelab-floor-"))
    try:
        if not args.no_baseline:
            import bench_epoch as be
            loaders = be.baseline_loaders(be.torchvision_root(data.source, tmp), cfg.batch_size,
                                          cfg.eval_batch_size, 0, device)
            be.baseline_epoch(be.hooked_model(init, masks), loaders, cfg, lr_at, SEED, device, 20)  # warm-up
        sizes = [784, 300, 100, 10]
        floor_epoch(sizes, 2000, 1000, cfg.batch_size, cfg.eval_batch_size)                   # warm-up
        engine_epoch(copy.deepcopy(init), _subset(data, 2000), cfg, masks, lr_at, SEED)          # warm-up
        for r in range(args.repeats):
            for side in (sides if r % 2 == 0 else sides[::-1]):
                cpu_start = time.process_time()
                if side == "floor":
                    t = floor_epoch(sizes, data.n_train, data.n_test, cfg.batch_size, cfg.eval_batch_size)
                elif side == "baseline":
                    start = time.perf_counter()
                    be.baseline_epoch(be.hooked_model(init, masks), loaders, cfg, lr_at, SEED, device)
                    t = time.perf_counter() - start
                elif side == "engine (torch optim)":
                    model = copy.deepcopy(init)
                    t = engine_epoch(model, data, cfg, masks, lr_at, SEED, stock_optimizer(cfg, model.parameters()))
                else:
                    t = engine_epoch(copy.deepcopy(init), data, cfg, masks if "unmasked" not in side else None,
                                     lr_at, SEED)
                times[side].append(t)
                cpu_times[side].append(time.process_time() - cpu_start)
                print(f"  repeat {r + 1}/{args.repeats}  {side:<18} {t:7.3f} s wall {cpu_times[side][-1]:7.3f} s CPU",
                      flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    threshold = time_global_threshold()
    # the mask's own cost per step: MaskEnforcer.mask_weights() alone, CPU time per call
    model = copy.deepcopy(init)
    enforcer = MaskEnforcer(prunable_parameters(model), masks)
    for _ in range(50):
        enforcer.mask_weights()
    cpu_start = time.process_time()
    for _ in range(2000):
        enforcer.mask_weights()
    mask_s = (time.process_time() - cpu_start) / 2000
    step_cpu_s = statistics.median(cpu_times["engine (unmasked)"]) / steps
    opt_s = optimizer_step_seconds(init, lambda ps: make_optimizer(cfg, ps))
    stock_s = optimizer_step_seconds(init, lambda ps: stock_optimizer(cfg, ps))
    load_after = os.getloadavg()

    med = {s: statistics.median(t) for s, t in times.items()}
    cpu = {s: statistics.median(t) for s, t in cpu_times.items()}
    print(f"\n{'side':<19}{'median s':>9}{'best s':>8}{'/ floor':>9}{'/ engine':>9}{'CPU s':>8}{'CPU / floor':>12}")
    for s in sides:
        print(f"{s:<19}{med[s]:9.3f}{min(times[s]):8.3f}{med[s] / med['floor']:8.2f}x{med[s] / med['engine (masked)']:8.2f}x"
              f"{cpu[s]:8.3f}{cpu[s] / cpu['floor']:11.2f}x")
    masked_ratio = med["engine (masked)"] / med["engine (unmasked)"]
    stepwise = [interleaved_steps(init, data, cfg, masks, lr_at, SEED) for _ in range(3)]
    step_ratio = statistics.median(r["ratio"] for r in stepwise)
    floor_ratio = med["engine (masked)"] / med["floor"]
    print(f"\nengine / floor: {floor_ratio:.2f}x wall, {cpu['engine (masked)'] / cpu['floor']:.2f}x CPU time "
          f"(target <= 1.5x: {'met' if floor_ratio <= 1.5 else 'NOT met'})")
    print(f"masked / unmasked step, interleaved step by step: {step_ratio:.3f}x (median of 3 epochs; per-step "
          f"median {statistics.median(r['median_step_ratio'] for r in stepwise):.3f}x; target <= 1.05x: "
          f"{'met' if step_ratio <= 1.05 else 'NOT met'}); the epochs timed whole: {masked_ratio:.3f}x")
    print(f"mask multiply alone: {mask_s * 1e6:.0f} us CPU per step = {mask_s / step_cpu_s:.1%} of an unmasked "
          f"step ({step_cpu_s * 1e3:.2f} ms CPU): masked/unmasked by construction {1 + mask_s / step_cpu_s:.3f}x")
    engine_cpu = cpu["engine (masked)"]
    print(f"optimizer step alone ({cfg.optimizer}): {opt_s * 1e6:.0f} us CPU (torch's stock class: {stock_s * 1e6:.0f} us, "
          f"{stock_s / opt_s:.2f}x); x {steps} steps = {opt_s * steps:.3f} s = {opt_s * steps / engine_cpu:.0%} of the "
          f"masked epoch's CPU time")
    print(f"the rest of the loop: (engine - optimizer steps) / floor = {(engine_cpu - opt_s * steps) / cpu['floor']:.2f}x CPU time")
    print(f"engine with torch's stock optimizer / engine: {med['engine (torch optim)'] / med['engine (masked)']:.2f}x")
    if "baseline" in med:
        print(f"baseline / engine: {med['baseline'] / med['engine (masked)']:.2f}x")
    print(f"global threshold over {threshold['weights'] / 1e6:.1f} M weights (ResNet-50 shapes): "
          f"{threshold['seconds'] * 1e3:.0f} ms median (target < 1 s: {'met' if threshold['seconds'] < 1 else 'NOT met'})")
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({
            "threads": torch.get_num_threads(), "batch_size": cfg.batch_size, "median_s": med,
            "best_s": {s: min(t) for s, t in times.items()}, "median_cpu_s": cpu, "engine_over_floor": floor_ratio,
            "engine_over_floor_cpu": cpu["engine (masked)"] / cpu["floor"],
            "masked_over_unmasked": masked_ratio, "masked_over_unmasked_stepwise": step_ratio,
            "stepwise": stepwise, "mask_multiply_cpu_s": mask_s, "unmasked_step_cpu_s": step_cpu_s,
            "optimizer": cfg.optimizer, "optimizer_step_cpu_s": opt_s, "stock_optimizer_step_cpu_s": stock_s,
            "loop_without_optimizer_over_floor_cpu": (engine_cpu - opt_s * steps) / cpu["floor"],
            "baseline_over_engine": med["baseline"] / med["engine (masked)"] if "baseline" in med else None,
            "threshold": threshold, "load_before": load_before, "load_after": load_after}, indent=2))
    return 0


def _subset(data, n):
    """A shallow DeviceDataset view holding the first n training samples (for warm-up)."""
    sub = copy.copy(data)
    sub.train_x, sub.train_y = data.train_x[:n], data.train_y[:n]
    return sub


if __name__ == "__main__":
    sys.exit(main())
