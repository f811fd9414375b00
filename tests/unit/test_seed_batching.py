"""Seed batching (issue 11): N copies trained as one batched model equal the engine's own
one-by-one path (``train_epochs`` with a ``MaskEnforcer``), copy by copy.

Tolerance: the batched path computes each copy's products with batched matrix kernels (``vmap``
turns ``F.linear`` / ``conv2d`` into one bmm / grouped call), so float32 sums are taken in another
order; gradients agree to ~1e-8 absolute. With SGD the weights then agree to ~1e-8; Adam/NAdam
divide by sqrt(v), so an entry whose gradient is tiny and the sum of cancelling terms (|g| ~ 1e-7,
rounding error ~1e-11) gets a visibly different step (~1e-6 here), and a run in a chaotic regime
amplifies that over the steps (Conv-2 with NAdam at LR 2e-3 on 300 digits: 5e-3 after 5 steps,
while its SGD twin stays at 4e-9). We assert weights and losses within atol 2e-5 / rtol 1e-4 and
accuracies within one test sample, on well-conditioned runs: LeNet-300-100 for every optimizer
(observed <= 2e-6 after 2 epochs), Conv-2 with SGD — well above rounding noise, far below any real
difference (a wrong batch, mask or optimizer state moves weights by ~1e-3 after one step).
"""

import copy

import pytest
import torch
from torch import nn

from pruning_core.batched import (NotBatchable, StackedModel, check_elementwise_optimizer, stack_masks,
                                  train_stacked)
from pruning_core.batched.trainer import StackedCallbacks
from pruning_core.config import TrainingConfig
from pruning_core.data import DeviceDataset, load_dataset
from pruning_core.masks import MaskEnforcer, prunable_parameters
from pruning_core.models import build_model
from pruning_core.schedules import LRSchedule
from pruning_core.train import make_optimizer, train_epochs

ATOL, RTOL = 2e-5, 1e-4
SEEDS = (0, 1, 2)


def small_digits(augment: bool = False) -> DeviceDataset:
    """300 training / 120 test samples of the 8x8 digits: a few steps per epoch, seconds per test."""
    full = load_dataset("digits")
    return DeviceDataset(full.spec, full.train_x[:300], full.train_y[:300], full.test_x[:120], full.test_y[:120],
                         augment=augment)


def models_for(name: str, data: DeviceDataset) -> list[nn.Module]:
    out = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        out.append(build_model(name, in_channels=1, num_classes=10, input_size=data.spec.input_size))
    return out


def random_masks(model: nn.Module, seed: int, density: float = 0.6) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 + seed)
    return {n: torch.rand(p.shape, generator=gen) < density for n, p in prunable_parameters(model).items()}


def generators() -> list[torch.Generator]:
    return [torch.Generator().manual_seed(77 + 13 * s) for s in SEEDS]


def one_by_one(models, data, cfg, epochs, lr_at, masks, make_opt=None):
    """The engine's path, as RepeatRun.train drives it: mask first, then train_epochs."""
    results = []
    for model, m, gen in zip(models, masks, generators()):
        enforcer = None
        if m is not None:
            enforcer = MaskEnforcer(prunable_parameters(model), m)
            enforcer.mask_weights()
        optimizer = make_opt(model.parameters()) if make_opt else None
        history = train_epochs(model, data, cfg, epochs, lr_at, gen, enforcer=enforcer, optimizer=optimizer)
        results.append(history)
    return results


def batched(models, data, cfg, epochs, lr_at, masks, make_opt=None):
    stacked = StackedModel(models)
    stacked_masks = None
    if masks[0] is not None:
        stacked_masks = stack_masks(masks)
        MaskEnforcer(stacked.params, stacked_masks).mask_weights()
    optimizer = make_opt(stacked.parameters()) if make_opt else None
    histories = train_stacked(stacked, data, cfg, epochs, lr_at, generators(), masks=stacked_masks,
                              optimizer=optimizer)
    return stacked, histories


def assert_same(stacked, histories, models, reference, n_test):
    for i, (model, ref) in enumerate(zip(models, reference)):
        for name, p in model.named_parameters():
            torch.testing.assert_close(stacked.params[name][i].detach(), p.detach(), atol=ATOL, rtol=RTOL,
                                       msg=lambda m: f"copy {i}, {name}: {m}")
        assert len(histories[i]) == len(ref)
        for got, want in zip(histories[i], ref):
            assert got.schedule_epoch == want.schedule_epoch and got.lr == want.lr
            assert got.train_loss == pytest.approx(want.train_loss, rel=RTOL, abs=ATOL)
            assert got.test_loss == pytest.approx(want.test_loss, rel=RTOL, abs=ATOL)
            assert abs(got.test_accuracy - want.test_accuracy) <= 1 / n_test + 1e-12


@pytest.mark.parametrize("augment", [False, True])
def test_each_copy_sees_exactly_its_own_batches(augment):
    from pruning_core.batched.trainer import stacked_train_batches
    data = small_digits(augment=augment)
    alone = [list(data.train_batches(70, g)) for g in generators()]
    together = list(stacked_train_batches(data, 70, generators()))
    assert len(together) == len(alone[0]) == 5 and together[-1][0].shape[:2] == (3, 20)
    for step, (x, y) in enumerate(together):
        for i in range(3):
            assert torch.equal(x[i], alone[i][step][0]) and torch.equal(y[i], alone[i][step][1])


OPTIMIZERS = {
    "sgd": dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=False, weight_decay=1e-4),
    "sgd_nesterov": dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4),
    "sgd_plain": dict(optimizer="sgd", lr=0.1, momentum=0.0, weight_decay=0.0),
    "adam": dict(optimizer="adam", lr=2e-3, weight_decay=1e-4),
    "nadam": dict(optimizer="nadam", lr=2e-3, weight_decay=1e-4),
}


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_batched_equals_one_by_one_for_each_optimizer(opt):
    data = small_digits()
    cfg = TrainingConfig(batch_size=32, epochs=2, lr_schedule="cosine", warmup_epochs=0.5, **OPTIMIZERS[opt])
    steps = -(-data.n_train // cfg.batch_size)
    schedule = LRSchedule(cfg)
    lr_at = lambda t: schedule(t, steps)  # noqa: E731 - a varying LR per step, shared by the copies
    models = models_for("lenet300_100", data)
    masks = [random_masks(m, s) for m, s in zip(models, SEEDS)]
    reference_models = [copy.deepcopy(m) for m in models]
    reference = one_by_one(reference_models, data, cfg, [0, 1], lr_at, masks)
    stacked, histories = batched(models, data, cfg, [0, 1], lr_at, masks)
    assert_same(stacked, histories, reference_models, reference, data.n_test)
    # the copies really differ (own seeds, masks, data orders): not one model trained three times
    first = "classifier.0.weight"
    assert not torch.allclose(stacked.params[first][0], stacked.params[first][1])
    assert histories[0][-1].train_loss != histories[1][-1].train_loss


def test_nadam_with_per_copy_grad_clipping():
    data = small_digits()
    cfg = TrainingConfig(batch_size=50, optimizer="nadam", lr=2e-3, grad_clip=0.3)
    models = models_for("lenet300_100", data)
    masks = [random_masks(m, s) for m, s in zip(models, SEEDS)]
    reference_models = [copy.deepcopy(m) for m in models]
    reference = one_by_one(reference_models, data, cfg, [0, 1], lambda t: 2e-3, masks)
    stacked, histories = batched(models, data, cfg, [0, 1], lambda t: 2e-3, masks)
    assert_same(stacked, histories, reference_models, reference, data.n_test)


def test_adamw_given_as_optimizer_and_dense_copies():
    data = small_digits()
    cfg = TrainingConfig(batch_size=50, optimizer="adam", lr=1e-3)
    make = lambda params: torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05)  # noqa: E731
    models = models_for("lenet300_100", data)
    reference_models = [copy.deepcopy(m) for m in models]
    reference = one_by_one(reference_models, data, cfg, [0, 1], lambda t: 1e-3, [None] * 3, make)
    stacked, histories = batched(models, data, cfg, [0, 1], lambda t: 1e-3, [None] * 3, make)
    assert_same(stacked, histories, reference_models, reference, data.n_test)


def test_conv_model_with_augmentation_and_per_copy_grad_clipping():
    """Conv-2 (4-d masks), random crops/flips drawn from each copy's own generator, and the
    clipping norm measured per copy over its live weights (clip small enough to act every step)."""
    data = small_digits(augment=True)
    cfg = TrainingConfig(batch_size=60, optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, grad_clip=0.05)
    models = models_for("conv2", data)
    masks = [random_masks(m, s, density=0.5) for m, s in zip(models, SEEDS)]
    reference_models = [copy.deepcopy(m) for m in models]
    reference = one_by_one(reference_models, data, cfg, [3], lambda t: 2e-3, masks)
    stacked, histories = batched(models, data, cfg, [3], lambda t: 2e-3, masks)
    assert_same(stacked, histories, reference_models, reference, data.n_test)


def test_pruned_weights_stay_exactly_zero_in_every_copy_and_write_back():
    data = small_digits()
    cfg = TrainingConfig(batch_size=60, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-3)
    models = models_for("lenet300_100", data)
    masks = [random_masks(m, s, density=0.3) for m, s in zip(models, SEEDS)]
    stacked, _ = batched(models, data, cfg, [0], lambda t: 0.1, masks)
    stacked.write_back(models)
    for i, (model, m) in enumerate(zip(models, masks)):
        for name, keep in m.items():
            assert torch.all(stacked.params[name][i][~keep] == 0), (i, name)
            weight = dict(model.named_parameters())[name]
            assert torch.all(weight[~keep] == 0) and torch.count_nonzero(weight[keep]) > 0.99 * keep.sum()
            assert torch.equal(weight, stacked.params[name][i].detach())


def test_callbacks_and_cancel():
    data = small_digits()
    cfg = TrainingConfig(batch_size=100)
    stacked = StackedModel(models_for("lenet300_100", data))
    seen = []
    train_stacked(stacked, data, cfg, [0, 1], lambda t: 1e-3, generators(),
                  callbacks=StackedCallbacks(after_epoch=seen.append))
    assert [len(s) for s in seen] == [3, 3] and [s[0].schedule_epoch for s in seen] == [0, 1]
    from pruning_core.train import Cancelled
    with pytest.raises(Cancelled):
        train_stacked(stacked, data, cfg, [0], lambda t: 1e-3, generators(),
                      callbacks=StackedCallbacks(should_stop=lambda: True))


def test_non_elementwise_optimizer_is_refused():
    data = small_digits()
    stacked = StackedModel(models_for("lenet300_100", data))
    for optimizer in (torch.optim.LBFGS(stacked.parameters()), torch.optim.Adafactor(stacked.parameters())):
        with pytest.raises(NotBatchable, match="elementwise optimizer.*" + type(optimizer).__name__):
            check_elementwise_optimizer(optimizer)
        with pytest.raises(NotBatchable, match="elementwise"):
            train_stacked(stacked, data, TrainingConfig(), [0], lambda t: 1e-3, generators(), optimizer=optimizer)
    for name in ("sgd", "adam", "nadam"):         # every optimizer the config allows is accepted
        check_elementwise_optimizer(make_optimizer(TrainingConfig(optimizer=name), stacked.parameters()))


def test_unsupported_models_are_refused_with_the_reason():
    bn = [nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8), nn.Linear(8, 10)) for _ in SEEDS]
    with pytest.raises(NotBatchable, match="batch normalisation"):
        StackedModel(bn)
    with pytest.raises(NotBatchable, match="resnet20.*batch normalisation"):
        StackedModel([build_model("resnet20", in_channels=1, num_classes=10, input_size=(8, 8))] * 2,
                     name="resnet20")
    drop = [nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.Dropout(0.5), nn.Linear(8, 10)) for _ in SEEDS]
    with pytest.raises(NotBatchable, match="dropout"):
        StackedModel(drop)
    mixed = [nn.Sequential(nn.Flatten(), nn.Linear(64, 8)), nn.Sequential(nn.Flatten(), nn.Linear(64, 9))]
    with pytest.raises(NotBatchable, match="one architecture"):
        StackedModel(mixed)


# ---- optimizer state, the repeat group and the lockstep round loop --------------------------------------

def test_optimizer_state_stacks_and_unstacks_as_each_copy_holds_it():
    from pruning_core.batched.optim_state import stack_optimizer_state, unstack_optimizer_state
    data = small_digits()
    for name in ("sgd", "adam", "nadam"):
        cfg = TrainingConfig(batch_size=60, optimizer=name, lr=1e-3)
        models = models_for("lenet300_100", data)
        reference_models = [copy.deepcopy(m) for m in models]
        opts = [make_optimizer(cfg, m.parameters()) for m in reference_models]
        one_by_one(reference_models, data, cfg, [0], lambda t: 1e-3, [None] * 3,
                   make_opt=lambda params, it=iter(opts): next(it))
        stacked = StackedModel(models)
        optimizer = make_optimizer(cfg, stacked.parameters())
        train_stacked(stacked, data, cfg, [0], lambda t: 1e-3, generators(), optimizer=optimizer)
        for i, opt in enumerate(opts):
            got, want = unstack_optimizer_state(optimizer, i), opt.state_dict()
            assert got["state"].keys() == want["state"].keys()
            for index, entry in want["state"].items():
                assert got["state"][index].keys() == entry.keys()
                for key, value in entry.items():
                    torch.testing.assert_close(got["state"][index][key], value, atol=ATOL, rtol=1e-3)
        again = make_optimizer(cfg, stacked.parameters())      # per-copy states → one stacked optimizer
        stack_optimizer_state(again, [o.state_dict() for o in opts])
        for index, entry in again.state_dict()["state"].items():
            for key, value in entry.items():
                if value.dim() > 0:
                    torch.testing.assert_close(value[1], opts[1].state_dict()["state"][index][key])


def _context(tmp_path, config: dict, events: list):
    from pruning_core.config import Config
    from pruning_core.loop import Progress, RunContext
    from pruning_core.rundir import RunDir
    config = Config.from_dict(config)
    plan = config.plan()
    return RunContext(config, plan, load_dataset("digits"), torch.device("cpu"), RunDir(tmp_path).mkdir(),
                      lambda kind, **fields: events.append({"type": kind, **fields}), lambda: False,
                      Progress(config.repeats * plan.total_epochs()))


def test_lockstep_round_loop_equals_repeats_one_after_the_other(tmp_path):
    """IMP with weight rewinding, 3 repeats, 2 rounds: every repeat's epoch and round events, masks
    and final weights as run_repeat gives them, repeat after repeat."""
    from pruning_core.batched.driver import run_repeats_together
    from pruning_core.loop import run_repeat
    config = {"training": {"epochs": 2, "batch_size": 100, "optimizer": "sgd", "lr": 0.05},
              "algorithm": {"rounds": 2, "rewind_epoch": 1}, "repeats": 3}
    alone, together = [], []
    ctx_a = _context(tmp_path / "a", config, alone)
    for repeat in range(3):
        run_repeat(ctx_a, repeat)
    ctx_b = _context(tmp_path / "b", config, together)
    run_repeats_together(ctx_b, [0, 1, 2])

    def by_key(events, kind):
        return {(e["repeat"], e["round"], e.get("epoch")): e for e in events if e["type"] == kind}
    for kind in ("epoch", "round"):
        a, b = by_key(alone, kind), by_key(together, kind)
        assert a.keys() == b.keys() and len(a) == (3 * (2 + 1 + 1) if kind == "epoch" else 3 * 3)
        for key in a:
            assert b[key]["test_accuracy"] == pytest.approx(a[key]["test_accuracy"], abs=1 / 360 + 1e-12), key
            if kind == "epoch":
                assert b[key]["train_loss"] == pytest.approx(a[key]["train_loss"], rel=RTOL, abs=ATOL), key
                assert b[key]["sparsity"] == a[key]["sparsity"] and b[key]["lr"] == a[key]["lr"]
            else:
                assert b[key]["remaining_weights"] == a[key]["remaining_weights"], key
    for repeat in range(3):
        ra, rb = ctx_a.run_dir.repeat(repeat), ctx_b.run_dir.repeat(repeat)
        for r in (1, 2):
            ma, mb = load_masks_file(ra.mask_file(r)), load_masks_file(rb.mask_file(r))
            agree = sum(int((ma[k] == mb[k]).sum()) for k in ma) / sum(m.numel() for m in ma.values())
            assert agree > 0.9999, (repeat, r, agree)      # a weight at the pruning threshold may flip
        wa, wb = ra.load_weights(ra.last_weights(), "cpu"), rb.load_weights(rb.last_weights(), "cpu")
        for k in wa:
            torch.testing.assert_close(wb[k], wa[k], atol=1e-4, rtol=1e-3)


def load_masks_file(path):
    from pruning_core.masks import load_masks
    return load_masks(path)


def test_lockstep_refuses_algorithms_with_their_own_round(tmp_path):
    from pruning_core.batched.driver import run_repeats_together
    ctx = _context(tmp_path, {"algorithm": {"name": "gradual"}, "repeats": 2}, [])
    with pytest.raises(NotBatchable, match="own run_round"):
        run_repeats_together(ctx, [0, 1])


def test_policy_answers_per_device_and_model(monkeypatch):
    from pruning_core.batched.policy import ENV, batching_pays
    monkeypatch.delenv(ENV, raising=False)
    assert not batching_pays("cpu", "lenet300_100", 5)            # measured: does not pay on CPU
    assert batching_pays("cuda", "lenet300_100", 5)               # no measurement offered: the GPU expectation
    assert batching_pays("cuda", "lenet300_100", 5, measure=lambda: 0.5)      # measured on the device:
    assert not batching_pays("cuda", "lenet300_100", 5, measure=lambda: 0.9)  # pays only below 0.8
    assert not batching_pays("cpu", "lenet5", 5, measure=lambda: 0.1)         # no GPU: not measured, no
    assert not batching_pays("cuda", "lenet300_100", 1)
    assert not batching_pays("cuda", "resnet20", 5)               # batch norm: not batchable
    monkeypatch.setenv(ENV, "on")
    assert batching_pays("cpu", "lenet300_100", 2)
    monkeypatch.setenv(ENV, "off")
    assert not batching_pays("cuda", "lenet300_100", 5)
    monkeypatch.setenv(ENV, "sometimes")                          # a value that would be ignored: refused
    with pytest.raises(ValueError, match=r"\$PRUNELAB_SEED_BATCHING: got 'sometimes'; allowed: auto, on, off"):
        batching_pays("cpu", "lenet300_100", 5)


def test_measure_ratio_times_both_ways_on_the_data():
    """Batched / one-by-one time of a few steps: positive, finite, cached per (device, model, n,
    batch size, steps), and the global random state left as it was."""
    from pruning_core.batched import policy
    data = load_dataset("digits")
    cfg = TrainingConfig(batch_size=60)
    before = torch.random.get_rng_state()
    ratio = policy.measure_ratio(data, cfg, "lenet300_100", 2, steps=4)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert 0 < ratio < 100
    assert policy.measure_ratio(data, cfg, "lenet300_100", 2, steps=4) == ratio


def test_the_runner_trains_a_jobs_seeds_together_where_the_policy_says_so(tmp_path, monkeypatch):
    """A job with ``repeats: 2``: with seed batching on, its run_started events say so and its
    rounds equal the one-by-one job's (sparsities exactly; accuracies to one test image of 360)."""
    from pruning_core.jobs.store import JobStore
    from pruning_core.runner import run

    config = {"training": {"epochs": 2}, "algorithm": {"rounds": 2, "rewind_epoch": 1}, "repeats": 2}
    results = {}
    for setting in ("off", "on"):
        monkeypatch.setenv("PRUNELAB_SEED_BATCHING", setting)
        result = run(config, cache_dir=tmp_path / setting, share_dense=False)
        assert result.status == "finished"
        with JobStore(tmp_path / setting) as store:
            started = [e for e in store.events(result.job_id) if e["type"] == "run_started"]
        assert [e["seeds_together"] for e in started] == [setting == "on"] * 2
        results[setting] = result.rounds.sort_values(["repeat", "round"]).reset_index(drop=True)
    off, on = results["off"], results["on"]
    assert list(on["sparsity"]) == list(off["sparsity"]) and list(on["repeat"]) == list(off["repeat"])
    assert (on["test_accuracy"] - off["test_accuracy"]).abs().max() <= 1 / 360 + 1e-9
