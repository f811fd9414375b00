"""GPU check: correctness of the CUDA path and every speed figure, in one command (no downloads).

    python3 dev.py gpu-check                 # on a CUDA machine: full sizes, at most ~6 minutes
    python3 dev.py gpu-check --cpu           # reduced CPU mode (also chosen when there is no GPU)
    python3 dev.py gpu-check --json out.json

Checks (each PASS/FAIL; the exit status is 1 if any fails):

* ``imp_sparsities``   a 3-round IMP run on the device gives the same per-round sparsities as on the CPU
* ``pruned_zero``      after every step of a pruned training run on the device, pruned weights are exactly 0
* ``no_sync``          no host–device synchronisation inside a training step: on CUDA with
                       ``torch.cuda.set_sync_debug_mode("error")`` switched on for the step (between the
                       loop's ``should_stop`` and ``after_step`` callbacks); on the CPU by counting the
                       reads of :class:`pruning_core.devices.HostSyncCounter` (the optimizer's CPU-resident
                       step counters exempt, as they are on the CPU in a CUDA run too)
* ``bf16_accuracy``    bf16 autocast ends within 0.5 accuracy points of float32 (same seed, same data)
* ``worker_device``    the job worker runs a job on the device and the job record's device names it
* ``seed_peers``       a sweep over 3 seeds served by the worker with seed batching on (the peers claimed
                       together, one batched model) equals it served with batching off: every job
                       finished, sparsities equal, accuracies within 1 point; both wall times reported

Figures (a table, then JSON): the CPU epoch of LeNet-300-100 at batch 128 against the matrix-product
floor, the masked/unmasked step, the engine's NAdam step against torch's, the global threshold over ResNet-50's 25.5 M weights, a 20-round
LTH run of LeNet-300-100 on the device, and ResNet-20 / VGG-19 training throughput, masked (90 %
pruned) vs unmasked, on CIFAR-shaped synthetic data. The reduced CPU mode uses small sizes and
labels each figure with what it measured; its timings are not the issue's targets.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import math
import os
import pathlib
import sys
import tempfile
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_floor  # noqa: E402
from gpu_check_jobs import check_imp_sparsities, check_seed_peers, check_worker  # noqa: E402
from optimizer_timing import optimizer_step_seconds, stock_optimizer  # noqa: E402
import pruning_core.train as train  # noqa: E402
from pruning_core.config import TrainingConfig  # noqa: E402
from pruning_core.data import DATASETS, DatasetNotAvailable, DeviceDataset, load_dataset  # noqa: E402
from pruning_core.devices import HostSyncCounter, cpu_resident_optimizer_state, device_label  # noqa: E402
from pruning_core.masks import MaskEnforcer, full_masks, prunable_parameters  # noqa: E402
from pruning_core.models import build_model  # noqa: E402
from pruning_core.pruners.selection import prune_groups_kth  # noqa: E402
from pruning_core.schedules import LRSchedule  # noqa: E402
from pruning_core.train import TrainCallbacks, make_optimizer, train_epochs  # noqa: E402


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fmnist_or_digits(device):
    """Fashion-MNIST (the system copy, no download) or, without it, sklearn's digits."""
    try:
        return load_dataset("fashion_mnist", device=device, download=False)
    except DatasetNotAvailable:
        return load_dataset("digits", device=device)


def subset(data, n_train, n_test=None):
    sub = copy.copy(data)
    sub.train_x, sub.train_y = data.train_x[:n_train], data.train_y[:n_train]
    if n_test is not None:
        sub.test_x, sub.test_y = data.test_x[:n_test], data.test_y[:n_test]
    sub._normalised = {}
    return sub


def pruned(model, rate):
    params = prunable_parameters(model)
    masks = prune_groups_kth({n: p.detach().abs() for n, p in params.items()}, full_masks(params),
                             [(tuple(params), rate)])
    return params, masks


def lenet(data, seed=0):
    torch.manual_seed(seed)
    return build_model("lenet300_100", in_channels=data.spec.in_channels, num_classes=data.spec.num_classes,
                       input_size=data.spec.input_size).to(data.device)


# ----------------------------------------------------------------------------- checks
def check_steps(device, data, model_name="lenet300_100", epochs=1, batch_size=128) -> dict:
    """Pruned training on the device: no host sync inside a step, pruned weights exactly 0 after every step."""
    torch.manual_seed(0)
    model = build_model(model_name, in_channels=data.spec.in_channels, num_classes=data.spec.num_classes,
                        input_size=data.spec.input_size).to(device)
    params, masks = pruned(model, 0.5)
    cfg = dataclasses.replace(TrainingConfig(), batch_size=batch_size, grad_clip=1.0)
    optimizer = make_optimizer(cfg, model.parameters())
    enforcer = MaskEnforcer(params, masks)
    enforcer.mask_weights()
    counter = HostSyncCounter(exempt=lambda: cpu_resident_optimizer_state(optimizer))
    zero_after_every_step, steps, errors = [True], [0], []
    checks = []

    def start() -> bool:
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("error")
        counter.active = True
        return False

    def end(lr) -> None:
        counter.active = False
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("default")
        steps[0] += 1
        # collected on the device, read once at the end (reading here would itself sync)
        checks.append(torch.stack([((p.detach() == 0) | m).all() for p, m in
                                   zip(enforcer.params, masks.values())]).all())

    mode = counter if device.type == "cpu" else contextlib.nullcontext()
    try:
        with mode:
            train_epochs(model, data, cfg, range(epochs), lambda t: cfg.lr, torch.Generator().manual_seed(0),
                         enforcer=enforcer, optimizer=optimizer,
                         callbacks=TrainCallbacks(should_stop=start, after_step=end))
    except RuntimeError as exc:          # set_sync_debug_mode("error") raises inside the step
        errors.append(str(exc).splitlines()[0])
    finally:
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("default")
    zero_after_every_step[0] = bool(torch.stack(checks).all()) if checks else False
    return {"no_sync": {"ok": not errors and counter.total == 0 and steps[0] > 0, "steps": steps[0],
                        "host_reads": counter.counts, "errors": errors, "model": model_name},
            "pruned_zero": {"ok": zero_after_every_step[0] and not errors, "steps": steps[0], "model": model_name}}


def check_bf16(device, data, epochs) -> dict:
    """Same seed and data: bf16 autocast (the engine's default on CUDA) vs float32."""
    def accuracy(autocast):
        model = lenet(data, seed=1)
        # the LR decays linearly to 0, so both runs settle instead of stopping mid-way
        cfg = dataclasses.replace(TrainingConfig(), batch_size=128, epochs=epochs, lr_schedule="linear")
        sched, steps = LRSchedule(cfg), math.ceil(data.n_train / cfg.batch_size)
        real = train._autocast
        train._autocast = autocast
        try:
            hist = train_epochs(model, data, cfg, range(epochs), lambda t: sched(t, steps),
                                torch.Generator().manual_seed(1))
        finally:
            train._autocast = real
        return hist[-1].test_accuracy

    bf16 = (lambda dev: torch.autocast(dev.type, dtype=torch.bfloat16))
    fp32 = (lambda dev: contextlib.nullcontext())
    a16, a32 = accuracy(bf16), accuracy(fp32)
    return {"ok": abs(a16 - a32) * 100 <= 0.5, "bf16": a16, "fp32": a32, "points": (a16 - a32) * 100,
            "dataset": data.spec.name, "epochs": epochs}


# ----------------------------------------------------------------------------- figures
def figure_cpu_epoch(n_train, repeats) -> dict:
    """CPU: the engine's epoch (batch 128, pruned 20 %) vs the matrix-product floor, masked vs unmasked."""
    data = fmnist_or_digits(torch.device("cpu"))
    data = subset(data, min(n_train, data.n_train))
    cfg = TrainingConfig(batch_size=128)
    init = lenet(data)
    _, masks = pruned(copy.deepcopy(init), 0.2)
    sched = LRSchedule(cfg)
    steps = math.ceil(data.n_train / cfg.batch_size)
    lr_at = lambda t: sched(t, steps)
    sizes = [data.spec.in_channels * data.spec.input_size[0] * data.spec.input_size[1], 300, 100, 10]
    bench_floor.engine_epoch(copy.deepcopy(init), subset(data, min(2000, data.n_train)), cfg, masks, lr_at, 0)
    times = {"floor": [], "masked": [], "unmasked": []}
    for r in range(repeats):
        order = list(times) if r % 2 == 0 else list(times)[::-1]
        for side in order:
            if side == "floor":
                t = bench_floor.floor_epoch(sizes, data.n_train, data.n_test, cfg.batch_size, cfg.eval_batch_size)
            else:
                t = bench_floor.engine_epoch(copy.deepcopy(init), data, cfg, masks if side == "masked" else None,
                                             lr_at, 0)
            times[side].append(t)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    stepwise = bench_floor.interleaved_steps(init, data, cfg, masks, lr_at, 0)     # robust to a shared machine
    return {"dataset": data.spec.name, "n_train": data.n_train, "threads": torch.get_num_threads(),
            "floor_s": med["floor"], "engine_s": med["masked"], "unmasked_s": med["unmasked"],
            "engine_over_floor": med["masked"] / med["floor"], "masked_over_unmasked": stepwise["ratio"],
            "masked_steps_s": stepwise["masked_s"], "unmasked_steps_s": stepwise["unmasked_s"],
            "masked_over_unmasked_epochs": med["masked"] / med["unmasked"]}


def figure_nadam_step(device, steps=200) -> dict:
    """One NAdam step over LeNet-300-100's parameters on the device: the engine's (Adam's fused
    kernel, :mod:`pruning_core.nadam`) against torch's ``NAdam`` (foreach)."""
    model = build_model("lenet300_100", in_channels=1, num_classes=10, input_size=(28, 28)).to(device)
    cfg = TrainingConfig()
    engine = optimizer_step_seconds(model, lambda ps: make_optimizer(cfg, ps), steps)
    stock = optimizer_step_seconds(model, lambda ps: stock_optimizer(cfg, ps), steps)
    return {"engine_us": engine * 1e6, "torch_nadam_us": stock * 1e6, "torch_over_engine": stock / engine}


def figure_lth(device, dataset, rounds, tmp, epochs=3) -> dict:
    from pruning_core import run

    config = {"device": str(device), "dataset": {"name": dataset},
              "training": {"epochs": epochs}, "algorithm": {"rounds": rounds, "rate": 0.2, "treatment": "rewind",
                                                       "rewind_epoch": 0}}
    start = time.perf_counter()
    result = run(config, cache_dir=tmp / "lth", share_dense=False)
    seconds = time.perf_counter() - start
    last = result.rounds.sort_values("round").iloc[-1]
    return {"dataset": dataset, "rounds": rounds, "epochs": epochs, "seconds": seconds, "final_sparsity": float(last["sparsity"]),
            "final_accuracy": float(last["test_accuracy"])}


def synthetic_cifar(device, n_train, n_test) -> DeviceDataset:
    g = torch.Generator().manual_seed(0)
    spec = DATASETS["cifar10"]
    x = torch.randint(0, 256, (n_train + n_test, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (n_train + n_test,), generator=g)
    return DeviceDataset(spec, x[:n_train], y[:n_train], x[n_train:], y[n_train:], device=device,
                         source="synthetic")


def figure_conv_throughput(device, model_name, data, batch_size, epochs=1, warm_up=True) -> dict:
    """Training images/s of one epoch (+ evaluation), unmasked vs 90 % pruned, from the same init."""
    torch.manual_seed(0)
    init = build_model(model_name, in_channels=3, num_classes=10, input_size=(32, 32)).to(device)
    cfg = dataclasses.replace(TrainingConfig(), batch_size=batch_size, optimizer="sgd", lr=0.05)
    _, masks = pruned(copy.deepcopy(init), 0.9)
    warm = subset(data, min(data.n_train, 4 * batch_size), min(data.n_test, 2 * batch_size))

    def epoch(d, masked):
        model = copy.deepcopy(init)
        enforcer = None
        if masked:
            enforcer = MaskEnforcer(prunable_parameters(model), masks)
            enforcer.mask_weights()
        sync(device)
        start = time.perf_counter()
        train_epochs(model, d, cfg, range(epochs), lambda t: cfg.lr, torch.Generator().manual_seed(0), enforcer=enforcer)
        sync(device)
        return time.perf_counter() - start

    if warm_up:
        epoch(warm, False), epoch(warm, True)
    unmasked, masked = epoch(data, False), epoch(data, True)
    n = data.n_train * epochs
    return {"model": model_name, "n_train": data.n_train, "batch_size": batch_size,
            "unmasked_img_s": n / unmasked, "masked_img_s": n / masked, "masked_over_unmasked_time": masked / unmasked}


# ----------------------------------------------------------------------------- main
def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cpu", action="store_true", help="reduced CPU mode (the default when CUDA is not available)")
    p.add_argument("--json", default=None, help="also write the results to this file")
    p.add_argument("--skip-figures", action="store_true", help="the checks only")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    gpu = torch.cuda.is_available() and not args.cpu
    device = torch.device("cuda") if gpu else torch.device("cpu")
    started = time.perf_counter()
    out = {"mode": "gpu" if gpu else "cpu-reduced", "device": device_label(device), "torch": torch.__version__,
           "load_average": os.getloadavg(), "checks": {}, "figures": {}}
    print(f"gpu-check: {out['mode']} mode on {out['device']}, torch {torch.__version__}, "
          f"load average {out['load_average'][0]:.2f}", flush=True)

    def step(kind, name, fn):
        t = time.perf_counter()
        try:
            value = fn()
        except Exception as exc:  # a failed check is reported, the others still run
            value = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        value["seconds_taken"] = round(time.perf_counter() - t, 2)
        out[kind][name] = value
        status = ("PASS" if value.get("ok") else "FAIL") if kind == "checks" else ("error" if "error" in value else "done")
        print(f"  {kind[:-1]:<6} {name:<24} {status:<5} ({value['seconds_taken']:.1f} s)", flush=True)

    with tempfile.TemporaryDirectory(prefix="prunelab-gpu-check-") as tmpname:
        tmp = pathlib.Path(tmpname)
        data = fmnist_or_digits(device)
        small = data if gpu else subset(data, min(3000, data.n_train), min(2000, data.n_test))
        step("checks", "imp_sparsities", lambda: check_imp_sparsities(device, "digits", tmp))
        steps = {}
        step("checks", "no_sync", lambda: steps.update(check_steps(device, small)) or steps["no_sync"])
        out["checks"]["pruned_zero"] = {**steps.get("pruned_zero", {"ok": False}), "seconds_taken": 0.0}
        print(f"  check  {'pruned_zero':<24} {'PASS' if out['checks']['pruned_zero']['ok'] else 'FAIL':<5}", flush=True)
        if gpu:   # the conv path: channels_last + bf16 on CUDA, also sync-free
            conv = synthetic_cifar(device, 2048, 512)
            step("checks", "no_sync_resnet20", lambda: check_steps(device, conv, "resnet20")["no_sync"])
        bf16_data = data if gpu else subset(data, min(4000, data.n_train), min(2000, data.n_test))
        step("checks", "bf16_accuracy", lambda: check_bf16(device, bf16_data, epochs=4 if gpu else 3))
        step("checks", "worker_device", lambda: check_worker(device, tmp))
        step("checks", "seed_peers", lambda: check_seed_peers(device, tmp))
        if not args.skip_figures:
            step("figures", "cpu_epoch_vs_floor", lambda: figure_cpu_epoch(60_000 if gpu else 6_000, 3 if gpu else 1))
            step("figures", "nadam_step", lambda: figure_nadam_step(device, 200 if gpu else 50))
            step("figures", "global_threshold_25M", lambda: bench_floor.time_global_threshold(
                device, repeats=5 if gpu else 1, scale=1.0))
            step("figures", "lth_lenet300", lambda: figure_lth(device, data.spec.name if gpu else "digits",
                                                               20 if gpu else 2, tmp, 3 if gpu else 1))
            cifar = synthetic_cifar(device, 50_000 if gpu else 64, 10_000 if gpu else 32)
            for name in ("resnet20", "vgg19"):
                step("figures", f"{name}_throughput", lambda name=name: figure_conv_throughput(
                    device, name, cifar, 128 if gpu else 32, warm_up=gpu))
    out["seconds"] = time.perf_counter() - started
    print_table(out)
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.json:
        pathlib.Path(args.json).write_text(text)
    return 0 if all(c.get("ok") for c in out["checks"].values()) else 1


def print_table(out) -> None:
    f = out["figures"]
    rows = []
    if "cpu_epoch_vs_floor" in f and "error" not in f["cpu_epoch_vs_floor"]:
        e = f["cpu_epoch_vs_floor"]
        rows += [("CPU epoch / matrix-product floor", f"{e['engine_s']:.3f} s / {e['floor_s']:.3f} s",
                  f"{e['engine_over_floor']:.2f}x", "<= 1.5x"),
                 ("masked / unmasked steps (CPU, interleaved)", f"{e['masked_steps_s']:.3f} s / {e['unmasked_steps_s']:.3f} s",
                  f"{e['masked_over_unmasked']:.3f}x", "<= 1.05x")]
    if "nadam_step" in f and "error" not in f["nadam_step"]:
        t = f["nadam_step"]
        rows.append(("NAdam step, engine / torch's NAdam", f"{t['engine_us']:.0f} us / {t['torch_nadam_us']:.0f} us",
                     f"{t['torch_over_engine']:.2f}x faster", ""))
    peers = out["checks"].get("seed_peers", {})
    if "together_s" in peers:
        rows.append((f"sweep of {len(peers['seeds_together'])} seeds (digits), together / one by one",
                     f"{peers['together_s']:.1f} s / {peers['one_by_one_s']:.1f} s",
                     f"{peers['together_over_one_by_one']:.2f}x", ""))
    if "global_threshold_25M" in f and "error" not in f["global_threshold_25M"]:
        t = f["global_threshold_25M"]
        rows.append((f"global threshold, {t['weights'] / 1e6:.1f} M weights", f"{t['seconds'] * 1e3:.1f} ms", "",
                     "< 1 s CPU, < 50 ms GPU"))
    if "lth_lenet300" in f and "error" not in f["lth_lenet300"]:
        t = f["lth_lenet300"]
        rows.append((f"LTH LeNet-300-100, {t['rounds']} rounds ({t['dataset']})", f"{t['seconds']:.1f} s",
                     f"acc {t['final_accuracy']:.4f}", ""))
    for name in ("resnet20", "vgg19"):
        t = f.get(f"{name}_throughput", {})
        if t and "error" not in t:
            rows.append((f"{name} img/s masked / unmasked", f"{t['masked_img_s']:.0f} / {t['unmasked_img_s']:.0f}",
                         f"{t['masked_over_unmasked_time']:.3f}x time", ""))
    print(f"\n{'figure':<44}{'value':>28}{'ratio':>16}  target")
    for r in rows:
        print(f"{r[0]:<44}{r[1]:>28}{r[2]:>16}  {r[3]}")
    print(f"\n{'check':<24}result")
    for name, c in out["checks"].items():
        print(f"{name:<24}{'PASS' if c.get('ok') else 'FAIL'}  {c.get('error', '')}")
    print(f"\ntotal {out['seconds']:.1f} s on {out['device']} ({out['mode']})\n")


if __name__ == "__main__":
    sys.exit(main())
