"""BIMP-paper retraining LR policies (exact values per iteration), ALLR's d, weight treatments,
and the algorithms built on them (one-shot, BIMP, IMP with an LR policy)."""

import math

import pytest
import torch

import pruning_core.algorithms.common as common
from pruning_core import run
from pruning_core.config import Config, TrainingConfig
from pruning_core.jobs.store import JobStore
from pruning_core.schedules import LRSchedule, allr_discount, retraining_lr
from pruning_core.treatments import restart_state

# Original schedule: T = 10 epochs, η₁ = 0.1, ×0.1 at epoch 5. Retraining T_rt = 4 epochs, n = 2 steps/epoch.
ORIGINAL = LRSchedule(TrainingConfig(epochs=10, lr=0.1, lr_schedule="step", milestones=[5], gamma=0.1))
TIMES = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]


def policy(name, **kw):
    return [retraining_lr(name, ORIGINAL, retrain_epochs=4, steps_per_epoch=2, **kw)(t) for t in TIMES]


def test_ft_holds_the_last_lr_and_lrw_replays_the_last_t_rt_epochs():
    assert policy("ft") == pytest.approx([0.01] * 8)           # η at t = T − 1/n = 9.5
    assert policy("lrw") == pytest.approx([0.01] * 8)          # η(10 − 4 + t): epochs 6..9, after the milestone


def test_slr_compresses_the_whole_schedule():
    # η(t · 10/4): t < 2 maps before the milestone at 5, t >= 2 after it
    assert policy("slr") == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01])


def test_clr_llr_allr_exact_values_with_one_epoch_warmup():
    # w = 0.25 · 4 = 1 epoch; warm-up factor (t + 1/2)/1 for t < 1; then decay over the remaining 3 epochs
    cos = lambda t: 0.1 * 0.5 * (1 + math.cos(math.pi * (t - 1) / 3))  # noqa: E731
    assert policy("clr", warmup_fraction=0.25) == pytest.approx([0.05, 0.1] + [cos(t) for t in TIMES[2:]])
    lin = [0.05, 0.1] + [0.1 * (1 - (t - 1) / 3) for t in TIMES[2:]]
    assert policy("llr", warmup_fraction=0.25) == pytest.approx(lin)
    assert lin[4] == pytest.approx(0.1 * 2 / 3)
    assert policy("allr", warmup_fraction=0.25, d=0.5) == pytest.approx([x / 2 for x in lin])


def test_allr_discount_is_max_of_relative_norm_change_and_time_ratio():
    # d₁ = 3 / (10 · √0.36) = 0.5 beats d₂ = 2/10
    assert allr_discount(3.0, 10.0, 0.36, retrain_epochs=2, epochs=10) == pytest.approx(0.5)
    # d₁ = 1 / (10 · √0.25) = 0.2 loses to d₂ = 5/10
    assert allr_discount(1.0, 10.0, 0.25, retrain_epochs=5, epochs=10) == pytest.approx(0.5)
    assert allr_discount(0.0, 10.0, 0.0, retrain_epochs=1, epochs=10) == pytest.approx(0.1)


def test_sigma_sign_sign_and_random_reinit():
    w0 = torch.tensor([[0.5, -1.0], [2.0, -0.5]])
    rewind = {"w": torch.full((2, 2), 9.0), "b": torch.tensor([7.0, 7.0])}
    sigma = math.sqrt(((0.25**2) + 1.25**2 + 1.75**2 + 0.75**2) / 4)      # population std, mean 0.25
    out = restart_state("sigma_sign", rewind, {"w": w0, "b": torch.zeros(2)}, ["w"], lambda: {})
    assert out["w"].flatten().tolist() == pytest.approx([sigma, -sigma, sigma, -sigma])
    assert torch.equal(out["b"], rewind["b"])                               # non-prunable: from θ_k
    out = restart_state("sign", rewind, {"w": w0}, ["w"], lambda: {})
    assert out["w"].tolist() == [[1, -1], [1, -1]]
    out = restart_state("random", rewind, {"w": w0}, ["w"], lambda: {"w": torch.ones(2, 2)})
    assert out["w"].tolist() == [[1, 1], [1, 1]]
    assert restart_state("none", rewind, {"w": w0}, ["w"], lambda: {}) is rewind


def test_bimp_splits_the_budget_and_retrains_with_allr(tmp_path, monkeypatch):
    lrs = []
    real = common.train_epochs

    def spy(model, data, cfg, *, schedule_epochs, lr_at, **kw):
        schedule_epochs = list(schedule_epochs)
        lrs.append([lr_at(t) for t in (0.0, len(schedule_epochs) / 2)])
        return real(model, data, cfg, schedule_epochs=schedule_epochs, lr_at=lr_at, **kw)
    monkeypatch.setattr(common, "train_epochs", spy)
    config = {"algorithm": {"name": "bimp", "rounds": 2, "bimp_dense_epochs": 2},
              "training": {"epochs": 6, "batch_size": 200, "lr": 0.01}}
    assert [Config.from_dict(config).retrain_epochs(r) for r in range(3)] == [2, 2, 2]
    result = run(config, cache_dir=tmp_path)
    assert result.rounds["retrain_epochs"].tolist() == [2, 2, 2]
    assert lrs[0] == pytest.approx([0.01, 0.005])              # dense phase: linear from η₁ to 0 over T0
    events = [e for e in JobStore(tmp_path).events(result.job_id) if e["type"] == "round" and e["round"] > 0]
    for event, (start, middle) in zip(events, lrs[1:]):
        d = event["allr_d"]
        assert 2 / 6 <= d <= 1 and event["lr_policy"] == "allr"
        assert start == pytest.approx(0.01 * d * (1 / 8) / 0.2)  # warm-up (0 + 1/n)/w: n = ⌈1437/200⌉ = 8, w = 0.2
        assert middle == pytest.approx(0.01 * d * (1 - (1 - 0.2) / (2 - 0.2)))


def test_one_shot_is_a_single_round_and_an_lr_policy_keeps_weights(tmp_path):
    config = {"algorithm": {"name": "one_shot", "rate": 0.5, "rewind": "none", "lr_policy": "slr",
                            "retrain_epochs": 1},
              "training": {"epochs": 2, "batch_size": 200}}
    result = run(config, cache_dir=tmp_path)
    assert result.rounds["round"].tolist() == [0, 1]
    assert result.rounds["sparsity"].iloc[1] == pytest.approx(0.5, abs=1e-4)
    assert result.rounds["retrain_epochs"].tolist() == [2, 1]
