"""ALLR's d₁ and CLR's floor as the BIMP paper's reference code (ZIB-IOL/BIMP) computes them, and
the other reading each option keeps selectable — hand-computed values on a tiny model and schedule.

Reference: runners/baseRunner.py ``after_pruning_callback`` (relative_norm_drop over
``Utilities.get_model_norm_square``: every module's weight and bias, batch norm included) and
``define_retrain_schedule`` (ALLR clip(d₁·η₁, d₂·η₁, η₁); CLR CosineAnnealingLR(eta_min=minLR)).
"""

import math

import pytest
import torch
from torch import nn

from pruning_core.config import Config, ConfigError, TrainingConfig
from pruning_core.lr_policies import AdaptiveLinearLR, CyclicLR
from pruning_core.plan import LREnv
from pruning_core.registry import LR_POLICIES
from pruning_core.schedules import LRSchedule


def tiny_model() -> nn.Module:
    """Linear(2, 2) → BatchNorm1d(2) → Linear(2, 2) with known values.

    Prunable weights (8):  fc1.weight [[3, 1], [-1, 3]]: 9 + 1 + 1 + 9 = 20
                           fc2.weight [[1, -3], [3, -1]]: 1 + 9 + 9 + 1 = 20          → 40
    Other parameters (8):  fc1.bias [3, 1]: 10, bn.weight [3, 1]: 10, bn.bias [-3, -1]: 10,
                           fc2.bias [3, -1]: 10                                      → 40
    The batch norm's running statistics (buffers, not parameters) are set large: they must not count.
    """
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 2))
    values = {"0.weight": [[3, 1], [-1, 3]], "0.bias": [3, 1], "1.weight": [3, 1], "1.bias": [-3, -1],
              "2.weight": [[1, -3], [3, -1]], "2.bias": [3, -1]}
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.tensor(values[name], dtype=torch.float32))
        model[1].running_mean.fill_(50.0)
        model[1].running_var.fill_(100.0)
    return model


def step_masks():
    """Before: all 8 prunable weights alive. After: fc1.weight[0, 1] = 1 and fc2.weight[1, 1] = −1
    removed, so ‖θ − θ_p‖² = 1 + 1 = 2 and s = 2/8 = 1/4 (√s = 1/2)."""
    before = {"0.weight": torch.ones(2, 2, dtype=torch.bool), "2.weight": torch.ones(2, 2, dtype=torch.bool)}
    after = {k: v.clone() for k, v in before.items()}
    after["0.weight"][0, 1] = False
    after["2.weight"][1, 1] = False
    return before, after


def discount(policy, T_rt=1, T=10):
    before, after = step_masks()
    return policy.discount(dict(tiny_model().named_parameters()), before, after, T_rt, T)


def test_allr_d1_over_all_parameters_is_the_default_and_the_reference_reading():
    # ‖θ‖² = 40 + 40 = 80 (weights, biases, batch norm); d₁ = √2 / (√80 · ½) = 1/√10 ≈ 0.3162
    # d₂ = T_rt / T = 1/10 < d₁, so d = d₁
    d, d1 = discount(LR_POLICIES.get("allr")())
    assert d1 == pytest.approx(1 / math.sqrt(10), rel=1e-12)
    assert d == pytest.approx(1 / math.sqrt(10), rel=1e-12)
    assert AdaptiveLinearLR().d1_over == "all_parameters"


def test_allr_d1_over_prunable_weights_is_the_first_release_reading():
    # ‖θ‖² = 40 (conv/linear weights alive before the step); d₁ = √2 / (√40 · ½) = 1/√5 ≈ 0.4472
    d, d1 = discount(AdaptiveLinearLR(d1_over="prunable_weights"))
    assert d1 == pytest.approx(1 / math.sqrt(5), rel=1e-12)
    assert d == pytest.approx(1 / math.sqrt(5), rel=1e-12)


def test_allr_d_is_max_of_d1_and_d2_capped_at_one():
    # d₂ = 4/10 beats d₁ = 1/√10 ≈ 0.316 (all parameters) but not 1/√5 ≈ 0.447 (prunable weights)
    assert discount(AdaptiveLinearLR(), T_rt=4)[0] == pytest.approx(0.4, rel=1e-12)
    assert discount(AdaptiveLinearLR(d1_over="prunable_weights"), T_rt=4)[0] == pytest.approx(1 / math.sqrt(5))
    assert discount(AdaptiveLinearLR(), T_rt=12)[0] == 1.0                       # d₂ = 1.2 → capped


# Original schedule: T = 10 epochs, n = 2 steps/epoch, η₁ = 0.1, ×0.1 at epoch 5: η_min = 0.01.
# CLR over T_rt = 4 epochs, w = 0.25 · 4 = 1 epoch of warm-up, then the cosine over 3 epochs:
# progress p = (t − 1)/3, LR = η_f + (0.1 − η_f) · ½(1 + cos(π p)).
STEP = LRSchedule(TrainingConfig(epochs=10, lr=0.1, lr_schedule="step", milestones=[5], gamma=0.1))


def clr_at(times, schedule=STEP, **kw):
    env = LREnv(schedule, steps=2, epochs=4, start=0)
    return [CyclicLR(warmup_fraction=0.25, **kw).lr(t, env) for t in times]


def test_clr_decays_to_the_schedule_minimum_by_default():
    # t = 1: p = 0 → 0.1; t = 2.5: p = ½ → 0.01 + 0.09·½ = 0.055;
    # t = 3.5: p = 5/6 → 0.01 + 0.09·½(1 − √3/2) = 0.0160289…; t = 4 (end): p = 1 → 0.01
    expected = [0.1, 0.055, 0.01 + 0.09 * 0.5 * (1 - math.sqrt(3) / 2), 0.01]
    assert clr_at([1, 2.5, 3.5, 4]) == pytest.approx(expected, rel=1e-12)
    assert CyclicLR().decay_to == "schedule_min"


def test_clr_decays_to_zero_when_asked():
    # the same points with η_f = 0: 0.1, 0.05, 0.1·½(1 − √3/2) = 0.0066987…, 0
    expected = [0.1, 0.05, 0.05 * (1 - math.sqrt(3) / 2), 0.0]
    assert clr_at([1, 2.5, 3.5, 4], decay_to="zero") == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_clr_floor_on_a_linear_schedule():
    # linear η(t) = 0.1 (1 − t/10): η_min = η(10 − ½) = 0.005; t = 2.5 → 0.005 + 0.095·½ = 0.0525
    linear = LRSchedule(TrainingConfig(epochs=10, lr=0.1, lr_schedule="linear"))
    assert clr_at([2.5, 4], schedule=linear) == pytest.approx([0.0525, 0.005], rel=1e-12)


@pytest.mark.parametrize("kw", [dict(lr_schedule="constant", warmup_epochs=2.0),
                                dict(lr_schedule="step", milestones=[3, 7], gamma=0.5, warmup_epochs=1.0),
                                dict(lr_schedule="cosine"), dict(lr_schedule="linear", warmup_epochs=0.5)])
def test_schedule_min_is_the_smallest_lr_after_the_warm_up(kw):
    # ZIB-IOL/BIMP's minLR = min of the recorded per-iteration LRs after the warm-up iterations
    from pruning_core.lr_policies import schedule_min_lr

    schedule, n = LRSchedule(TrainingConfig(epochs=10, lr=0.1, **kw)), 3
    first = int(kw.get("warmup_epochs", 0.0) * n)
    brute = min(schedule(i / n, n) for i in range(first, 10 * n))
    assert schedule_min_lr(LREnv(schedule, steps=n, epochs=4)) == pytest.approx(brute, rel=1e-12)


def errors_of(data):
    with pytest.raises(ConfigError) as err:
        Config.from_dict(data)
    return [str(e) for e in err.value.errors]


def test_readings_are_options_that_refuse_other_values_and_other_policies():
    keep = {"treatment": "keep"}
    assert errors_of({"algorithm": {**keep, "lr_policy": {"name": "allr", "d1_over": "biases"}}}) == \
        ["algorithm.lr_policy.d1_over: got 'biases'; allowed: one of all_parameters, prunable_weights"]
    assert errors_of({"algorithm": {**keep, "lr_policy": {"name": "clr", "decay_to": "eta_T"}}}) == \
        ["algorithm.lr_policy.decay_to: got 'eta_T'; allowed: one of schedule_min, zero"]
    assert "algorithm.lr_policy.decay_to" in errors_of(
        {"algorithm": {**keep, "lr_policy": {"name": "llr", "decay_to": "zero"}}})[0]
    assert errors_of({"algorithm": {"name": "bimp", "d1_over": "weights"}}) == \
        ["algorithm.d1_over: got 'weights'; allowed: one of all_parameters, prunable_weights"]
    bimp = Config.from_dict({"algorithm": {"name": "bimp", "d1_over": "prunable_weights"}})
    assert bimp.plan().round(1).lr.policy.d1_over == "prunable_weights"
    assert Config.from_dict({"algorithm": {"name": "bimp"}}).plan().round(1).lr.policy.d1_over == "all_parameters"


def test_first_release_configs_keep_the_reading_they_ran_with():
    clr = Config.from_dict({"algorithm": {"rewind": "none", "lr_policy": "clr"}})
    assert clr.algorithm.lr_policy.decay_to == "zero"
    allr = Config.from_dict({"algorithm": {"rewind": "none", "lr_policy": "allr"}})
    assert allr.algorithm.lr_policy.d1_over == "prunable_weights"
    bimp = Config.from_dict({"algorithm": {"name": "bimp", "rounds": 2, "bimp_dense_epochs": 2}})
    assert bimp.algorithm.d1_over == "prunable_weights"
