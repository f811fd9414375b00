"""BIMP-paper retraining LR policies (exact values per iteration), ALLR's d, weight treatments,
and the algorithms built on them (one-shot, BIMP, IMP with an LR policy)."""

import math

import pytest
import torch

import pruning_core.loop as loop
from pruning_core import run
from pruning_core.config import Config, ConfigError, TrainingConfig
from pruning_core.jobs.store import JobStore
from pruning_core.lr_policies import allr_discount
from pruning_core.plan import LREnv
from pruning_core.registry import LR_POLICIES
from pruning_core.schedules import LRSchedule
from pruning_core.treatments import keep, random, rewind, sigma_sign, sign

# Original schedule: T = 10 epochs, η₁ = 0.1, ×0.1 at epoch 5. Retraining T_rt = 4 epochs, n = 2 steps/epoch.
ORIGINAL = LRSchedule(TrainingConfig(epochs=10, lr=0.1, lr_schedule="step", milestones=[5], gamma=0.1))
TIMES = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]


def policy(name, d=1.0, **kw):
    env = LREnv(ORIGINAL, steps=2, epochs=4, start=0, d=d)
    chosen = LR_POLICIES.get(name)(**kw)
    return [chosen.lr(t, env) for t in TIMES]


def test_ft_holds_the_last_lr_and_lrw_replays_the_last_t_rt_epochs():
    assert policy("ft") == pytest.approx([0.01] * 8)           # η at t = T − 1/n = 9.5
    assert policy("lrw") == pytest.approx([0.01] * 8)          # η(10 − 4 + t): epochs 6..9, after the milestone


def test_slr_compresses_the_whole_schedule():
    # η(t · 10/4): t < 2 maps before the milestone at 5, t >= 2 after it
    assert policy("slr") == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01])


def test_clr_llr_allr_exact_values_with_one_epoch_warmup():
    # w = 0.25 · 4 = 1 epoch; warm-up factor (t + 1/2)/1 for t < 1; then decay over the remaining 3 epochs
    cos = lambda t: 0.1 * 0.5 * (1 + math.cos(math.pi * (t - 1) / 3))  # noqa: E731
    assert policy("clr", warmup_fraction=0.25, decay_to="zero") == \
        pytest.approx([0.05, 0.1] + [cos(t) for t in TIMES[2:]])
    # default: the cosine ends at the original schedule's minimum η_min = 0.01 (×0.1 at epoch 5), not 0
    to_min = lambda t: 0.01 + (0.1 - 0.01) * 0.5 * (1 + math.cos(math.pi * (t - 1) / 3))  # noqa: E731
    assert policy("clr", warmup_fraction=0.25) == pytest.approx([0.05, 0.1] + [to_min(t) for t in TIMES[2:]])
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


class FakeRun:
    """What a treatment reads of a repeat: saved states (θ_k as "rewind", θ₀ as "init"), a fresh init."""

    def __init__(self, rewind, init, prunable_names, fresh=dict):
        self.states = {"rewind": rewind, "init": init}
        self.prunable_names = prunable_names
        self.fresh = fresh

    def saved_state(self, name):
        return self.states[name]

    def fresh_state(self):
        return self.fresh()


def test_sigma_sign_sign_and_random_reinit():
    w0 = torch.tensor([[0.5, -1.0], [2.0, -0.5]])
    state_k = {"w": torch.full((2, 2), 9.0), "b": torch.tensor([7.0, 7.0])}
    sigma = math.sqrt(((0.25**2) + 1.25**2 + 1.75**2 + 0.75**2) / 4)      # population std, mean 0.25
    out = sigma_sign(FakeRun(state_k, {"w": w0, "b": torch.zeros(2)}, ["w"]))
    assert out["w"].flatten().tolist() == pytest.approx([sigma, -sigma, sigma, -sigma])
    assert torch.equal(out["b"], state_k["b"])                              # non-prunable: from θ_k
    out = sign(FakeRun(state_k, {"w": w0}, ["w"]))
    assert out["w"].tolist() == [[1, -1], [1, -1]]
    out = random(FakeRun(state_k, {"w": w0}, ["w"], lambda: {"w": torch.ones(2, 2)}))
    assert out["w"].tolist() == [[1, 1], [1, 1]]
    assert rewind(FakeRun(state_k, {"w": w0}, ["w"])) is state_k          # weight rewinding: θ_k itself
    assert keep(FakeRun(state_k, {"w": w0}, ["w"])) is None                 # keep: the trained weights stay


def test_bimp_splits_the_budget_and_retrains_with_allr(tmp_path, monkeypatch):
    lrs = []
    real = loop.train_epochs

    def spy(model, data, cfg, schedule_epochs, lr_at, generator, **kw):
        schedule_epochs = list(schedule_epochs)
        lrs.append([lr_at(t) for t in (0.0, len(schedule_epochs) / 2)])
        return real(model, data, cfg, schedule_epochs, lr_at, generator, **kw)
    monkeypatch.setattr(loop, "train_epochs", spy)
    config = {"algorithm": {"name": "bimp", "rounds": 2, "dense_epochs": 2},
              "training": {"epochs": 6, "batch_size": 200, "lr": 0.01}}
    assert [Config.from_dict(config).plan().round(r).epochs for r in range(3)] == [2, 2, 2]
    result = run(config, cache_dir=tmp_path)
    assert result.rounds["retrain_epochs"].tolist() == [2, 2, 2]
    assert lrs[0] == pytest.approx([0.01, 0.005])              # dense phase: linear from η₁ to 0 over T0
    events = [e for e in JobStore(tmp_path).events(result.job_id) if e["type"] == "round" and e["round"] > 0]
    assert len(events) == len(lrs[1:]) == 2
    for event, (start, middle) in zip(events, lrs[1:]):
        d = event["allr_d"]
        assert 2 / 6 <= d <= 1 and event["lr_policy"] == "allr"
        assert d == pytest.approx(min(1.0, max(event["allr_d1"], 2 / 6)))   # d = max(d₁, d₂), d₂ = T_rt/T
        assert start == pytest.approx(0.01 * d * (1 / 8) / 0.2)  # warm-up (0 + 1/n)/w: n = ⌈1437/200⌉ = 8, w = 0.2
        assert middle == pytest.approx(0.01 * d * (1 - (1 - 0.2) / (2 - 0.2)))


def test_one_shot_is_a_single_round_and_an_lr_policy_keeps_weights(tmp_path):
    config = {"algorithm": {"name": "one_shot", "rate": 0.5, "treatment": "keep", "lr_policy": "slr",
                            "retrain_epochs": 1},
              "training": {"epochs": 2, "batch_size": 200}}
    result = run(config, cache_dir=tmp_path)
    assert result.rounds["round"].tolist() == [0, 1]
    assert result.rounds["sparsity"].iloc[1] == pytest.approx(0.5, abs=1e-4)
    assert result.rounds["retrain_epochs"].tolist() == [2, 1]


def test_retraining_options_that_would_not_act_are_refused():
    # retrain_epochs (T_rt) only acts with a policy other than replay (replay retrains k … T−1)
    base = {"algorithm": {"name": "imp", "rounds": 3, "rewind_epoch": 1, "lr_policy": "replay"},
            "training": {"epochs": 6}}
    assert Config.from_dict(base).plan().round(1).epochs == 5                   # T − k
    with pytest.raises(ConfigError) as err:
        Config.from_dict({**base, "algorithm": {**base["algorithm"], "retrain_epochs": 2}})
    assert [e.field for e in err.value.errors] == ["algorithm.retrain_epochs"]
    assert "lr_policy" in str(err.value)
    # AIMP's τ (partial_epochs) only shortens replayed retraining: with FT it would be ignored
    ft = {"algorithm": {"name": "imp", "rounds": 3, "rewind_epoch": 1, "treatment": "keep",
                        "lr_policy": {"name": "ft"}}, "training": {"epochs": 6}}
    assert [r.epochs for r in Config.from_dict(ft).plan().rounds] == [6, 5, 5, 5]
    with pytest.raises(ConfigError) as err:
        Config.from_dict({**ft, "algorithm": {**ft["algorithm"], "partial_epochs": 3}})
    assert [e.field for e in err.value.errors] == ["algorithm.partial_epochs"]
    assert "lr_policy" in str(err.value)
    # the same τ with replay is AIMP: intermediate rounds retrain τ − k = 2 epochs, the last T − k = 5
    aimp = {**base, "algorithm": {**base["algorithm"], "partial_epochs": 3}}
    assert [r.epochs for r in Config.from_dict(aimp).plan().rounds] == [6, 2, 2, 5]
