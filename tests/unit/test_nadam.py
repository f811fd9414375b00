"""FusedNAdam: torch's NAdam update through Adam's fused kernel (pruning_core/nadam.py).

Hand-computed values for the identity and for the first step; equality with torch.optim.NAdam to
float rounding over hundreds of steps (with and without weight decay, in a channels_last conv
weight too); state_dict moving both ways; the cases that fall back to torch's own step."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from pruning_core.config import TrainingConfig
from pruning_core.nadam import FusedNAdam, fused_arguments, momentum_cache, nadam_coefficients
from pruning_core.train import make_optimizer


def test_the_identity_by_hand():
    # A = B = 1, β₁ = 0.9: w = (1 + 1·0.1)/2 = 0.55, so β₁' = 0.45; at t = 1, η' = 2·(1 − 0.45) = 1.1
    beta1_prime, lr_prime = fused_arguments(1.0, 1.0, 0.9, 1)
    assert beta1_prime == pytest.approx(0.45)
    assert lr_prime == pytest.approx(1.1)
    # at t = 3 the kernel divides by 1 − 0.45³ = 0.908875, so η' = 2·0.908875
    assert fused_arguments(1.0, 1.0, 0.9, 3)[1] == pytest.approx(1.81775)
    # (A + B)·lerp(m, g, w) = A·g + B·(β₁·m + (1 − β₁)·g) for any m, g (here A = 0.3, B = 1.7)
    a, b, beta1 = 0.3, 1.7, 0.9
    bp, _ = fused_arguments(a, b, beta1, 1)
    for m, g in ((1.0, 0.0), (0.0, 1.0), (0.25, -2.0)):
        assert (a + b) * (m + (1 - bp) * (g - m)) == pytest.approx(a * g + b * (beta1 * m + (1 - beta1) * g))


def test_a_zero_learning_rate_moves_nothing_but_the_state():
    """η = 0 (the end of a schedule that decays to zero): A = B = 0, which the identity divides by.
    The weights stay, the moments and counts advance as in torch's NAdam."""
    assert fused_arguments(0.0, 0.0, 0.9, 7) == (0.0, 0.0)
    ours, theirs = _twins([(4, 3)])
    start = ours[0].detach().clone()
    opt_ours, opt_theirs = FusedNAdam(ours, lr=0.0), torch.optim.NAdam(theirs, lr=0.0, foreach=True)
    _train_both(ours, theirs, opt_ours, opt_theirs, 3)
    assert torch.equal(ours[0].detach(), start)
    torch.testing.assert_close(opt_ours.state[ours[0]]["exp_avg"], opt_theirs.state[theirs[0]]["exp_avg"])
    assert opt_ours.state[ours[0]]["step"].item() == 3


def test_momentum_coefficients_by_hand():
    # μ₁ = 0.9·(1 − ½·0.96^0.004) = 0.450073..., μ₂ = 0.9·(1 − ½·0.96^0.008) = 0.450147...
    assert momentum_cache(1, 0.9, 0.004) == pytest.approx(0.9 * (1 - 0.5 * math.exp(0.004 * math.log(0.96))))
    assert momentum_cache(1, 0.9, 0.004) == pytest.approx(0.4500735, abs=1e-7)
    assert momentum_cache(2, 0.9, 0.004) == pytest.approx(0.4501469, abs=1e-7)
    # at t = 1, Π₁ = μ₁: A = η, B = η·μ₂/(1 − μ₁μ₂)
    mu1 = momentum_cache(1, 0.9, 0.004)
    a, b = nadam_coefficients(1, mu1, 0.1, 0.9, 0.004)
    assert a == pytest.approx(0.1)
    assert b == pytest.approx(0.1 * 0.4501469 / (1 - 0.4500735 * 0.4501469), rel=1e-6)


def test_first_step_by_hand():
    """m₀ = v₀ = 0, p₀ = 1, g = 0.5, η = 0.1: m₁ = 0.05, v₁ = 0.00025, the denominator is
    √(v₁/0.001) = 0.5 (+ε), so p₁ = 1 − (η·0.5 + B·0.05)/0.5 = 1 − 0.1·(1 + 0.1·μ₂/(1 − μ₁μ₂))
    = 1 − 0.1·1.0564518 = 0.89435482."""
    for cls in (FusedNAdam, lambda ps, **kw: torch.optim.NAdam(ps, foreach=True, **kw)):
        p = torch.nn.Parameter(torch.tensor([1.0]))
        p.grad = torch.tensor([0.5])
        cls([p], lr=0.1).step()
        assert p.item() == pytest.approx(0.89435482, abs=2e-7)


def _twins(shapes, seed=0, channels_last=False):
    g = torch.Generator().manual_seed(seed)
    base = [torch.randn(s, generator=g) * 0.05 for s in shapes]
    if channels_last:
        base = [t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t for t in base]
    return [torch.nn.Parameter(t.clone()) for t in base], [torch.nn.Parameter(t.clone()) for t in base]


def _train_both(ours, theirs, opt_ours, opt_theirs, steps, seed=1, skip=lambda step, i: False,
                grad_layout=torch.preserve_format):
    """Steps both optimizers on the same random gradients; ``grad_layout`` preserve_format lays a
    gradient out as its weight (as autograd does), contiguous_format makes every one contiguous."""
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        for i, (p, q) in enumerate(zip(ours, theirs)):
            if skip(step, i):
                p.grad = q.grad = None
                continue
            noise = torch.empty_like(p, memory_format=torch.preserve_format).copy_(torch.randn(p.shape, generator=g))
            grad = (noise * 0.01 + 0.1 * p.detach()).clone(memory_format=grad_layout)
            p.grad, q.grad = grad.clone(), grad.clone()
        opt_ours.step()
        opt_theirs.step()


def _worst_relative(ours, theirs):
    return max(((p - q).abs().max() / q.abs().max()).item() for p, q in zip(ours, theirs))


@pytest.mark.parametrize("weight_decay,grad_layout", [(0.0, torch.preserve_format), (1e-4, torch.preserve_format),
                                                      (1e-4, torch.contiguous_format)])
def test_equals_torch_nadam_to_float_rounding(weight_decay, grad_layout, monkeypatch):
    """300 steps over a LeNet-like set of tensors and a channels_last conv weight: within 5e-5 of
    the largest weight (torch's own foreach and for-loop NAdam differ by about 5e-7 here; ours by
    about 4e-6, the kernel rounding its products in another order), while the weights moved by
    about 0.2, four orders of magnitude more. With contiguous gradients for the channels_last conv
    weight the fused kernel would pair the wrong entries (a 160 % error): that group takes torch's
    step instead."""
    fallbacks = []
    original = FusedNAdam._torch_group_step
    monkeypatch.setattr(FusedNAdam, "_torch_group_step", lambda self, group: (fallbacks.append(1), original(self, group)))
    shapes = [(30, 78), (30,), (10, 30), (10,), (8, 3, 3, 3)]
    ours, theirs = _twins(shapes, channels_last=True)
    start = [p.detach().clone() for p in theirs]
    opt_ours = FusedNAdam(ours, lr=1e-3, weight_decay=weight_decay)
    opt_theirs = torch.optim.NAdam(theirs, lr=1e-3, weight_decay=weight_decay, foreach=True)
    _train_both(ours, theirs, opt_ours, opt_theirs, 300, grad_layout=grad_layout)
    assert len(fallbacks) == (0 if grad_layout is torch.preserve_format else 300)
    assert _worst_relative(ours, theirs) < 5e-5
    assert max((q - s).abs().max().item() for q, s in zip(theirs, start)) > 0.05
    for p, q in zip(ours, theirs):   # the counts exactly: Π_t is rounded to float32 each step, as torch's
        for key in ("step", "mu_product"):
            assert opt_ours.state[p][key].item() == opt_theirs.state[q][key].item()
        torch.testing.assert_close(opt_ours.state[p]["exp_avg_sq"], opt_theirs.state[q]["exp_avg_sq"],
                                   rtol=1e-4, atol=1e-12)
    assert ours[-1].is_contiguous(memory_format=torch.channels_last)


def test_state_dict_moves_between_torch_and_fused():
    shapes = [(20, 10), (20,)]
    ours, theirs = _twins(shapes)
    opt_ours = FusedNAdam(ours, lr=1e-2)
    opt_theirs = torch.optim.NAdam(theirs, lr=1e-2, foreach=True)
    _train_both(ours, theirs, opt_ours, opt_theirs, 20)
    # swap: torch continues from our state, we continue from torch's
    swapped_theirs = torch.optim.NAdam(ours, lr=1e-2, foreach=True)
    swapped_theirs.load_state_dict(opt_ours.state_dict())
    swapped_ours = FusedNAdam(theirs, lr=1e-2)
    swapped_ours.load_state_dict(opt_theirs.state_dict())
    assert set(swapped_ours.state[theirs[0]]) == {"step", "mu_product", "exp_avg", "exp_avg_sq"}
    _train_both(theirs, ours, swapped_ours, swapped_theirs, 20, seed=2)
    assert swapped_ours.state[theirs[0]]["step"].item() == 40
    assert _worst_relative(ours, theirs) < 5e-5


def test_loading_a_state_mid_run_is_followed():
    """The fused step keeps t and Π_t between steps; a state loaded in between must replace them."""
    ours, theirs = _twins([(8, 5), (8,)])
    opt_ours, opt_theirs = FusedNAdam(ours, lr=1e-2), torch.optim.NAdam(theirs, lr=1e-2, foreach=True)
    _train_both(ours, theirs, opt_ours, opt_theirs, 10)
    earlier = copy.deepcopy(opt_theirs.state_dict())     # at step 10 (deep: torch shares the tensors)
    _train_both(ours, theirs, opt_ours, opt_theirs, 5, seed=3)
    opt_ours.load_state_dict(copy.deepcopy(earlier))     # each its own copy: load_state_dict keeps the
    opt_theirs.load_state_dict(copy.deepcopy(earlier))   # 0-d step tensors it is given
    _train_both(ours, theirs, opt_ours, opt_theirs, 5, seed=4)
    assert opt_ours.state[ours[0]]["step"].item() == 15
    assert opt_ours.state[ours[0]]["mu_product"].item() == opt_theirs.state[theirs[0]]["mu_product"].item()
    assert _worst_relative(ours, theirs) < 5e-5


def test_parameters_at_different_steps_take_torchs_step(monkeypatch):
    """A parameter without a gradient at step 0 lags one step behind: the fused identity needs one
    step count per group, so the group takes torch's step, and still equals torch's NAdam."""
    calls = []
    original = FusedNAdam._torch_group_step
    monkeypatch.setattr(FusedNAdam, "_torch_group_step", lambda self, group: (calls.append(1), original(self, group)))
    ours, theirs = _twins([(6, 4), (6,)])
    opt_ours, opt_theirs = FusedNAdam(ours, lr=1e-2), torch.optim.NAdam(theirs, lr=1e-2, foreach=True)
    _train_both(ours, theirs, opt_ours, opt_theirs, 5, skip=lambda step, i: step == 0 and i == 1)
    assert len(calls) == 4          # step 0 fused (one parameter), steps 1–4 torch's
    assert opt_ours.state[ours[1]]["step"].item() == 4
    assert _worst_relative(ours, theirs) < 1e-6


def test_a_torch_hook_runs_once_per_step():
    ours, _ = _twins([(3, 2)])
    start = ours[0].detach().clone()
    torch.optim.NAdam([torch.nn.Parameter(torch.zeros(1))])     # patches NAdam.step with the hook runner
    opt = FusedNAdam(ours, lr=1e-2)
    seen = []
    opt.register_step_post_hook(lambda *args: seen.append(1))
    opt.param_groups[0]["maximize"] = True                      # not fusable: torch's step runs inside ours
    ours[0].grad = torch.ones(3, 2)
    opt.step()
    assert seen == [1]
    assert (ours[0].detach() > start).all()                     # maximize: a step up the gradient


def test_make_optimizer_uses_it_for_nadam():
    params = [torch.nn.Parameter(torch.zeros(2))]
    opt = make_optimizer(TrainingConfig(optimizer="nadam", lr=0.01, weight_decay=1e-4), params)
    assert isinstance(opt, FusedNAdam) and isinstance(opt, torch.optim.NAdam)
    assert opt.param_groups[0]["weight_decay"] == 1e-4
