"""NAdam through Adam's fused kernel: torch's NAdam update, in about half the memory passes.

torch ships fused (one pass per tensor) kernels for Adam and SGD but not for NAdam, whose
``foreach`` step is about 25 passes over every parameter. On the CPU that step cost more than a
third of a LeNet-300-100 epoch; on a GPU it is some twenty kernel launches per step. This module
computes the same update with one copy, one ``lerp`` and one call of ``torch._fused_adam_``.

The identity. torch's NAdam (Dozat 2016, with L2 weight decay λ and momentum decay ψ) at step t:

    g  ← g + λ·p
    μ_t = β₁·(1 − ½·0.96^(t·ψ)),   μ_{t+1} likewise,   Π_t = Π_{t−1}·μ_t
    m  ← lerp(m, g, 1 − β₁)                     (m_new = β₁·m + (1 − β₁)·g)
    v  ← β₂·v + (1 − β₂)·g²
    p  ← p − (A·g + B·m_new) / (√(v / (1 − β₂^t)) + ε)
         with A = η·(1 − μ_t)/(1 − Π_t),   B = η·μ_{t+1}/(1 − Π_t·μ_{t+1})

Since m_new = β₁·m + (1 − β₁)·g, the direction is one lerp of the *old* momentum:

    A·g + B·m_new = (A + B)·lerp(m, g, w),      w = (A + B·(1 − β₁)) / (A + B)   ∈ (1 − β₁, 1]

and Adam's fused kernel computes exactly ``u ← lerp(u, g, 1 − β₁')``, the same v update, and
``p ← p − (η'/(1 − β₁'^t))·u / (√v/√(1 − β₂^t) + ε)``. So with u a copy of the old m,
β₁' = 1 − w and η' = (A + B)·(1 − β₁'^t), one fused call moves p and v as NAdam does; m itself is
advanced by its own ``lerp``. The state (``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``)
is torch's, so ``state_dict()`` moves freely between this class and ``torch.optim.NAdam``.

Results equal torch's NAdam to float rounding, not bit for bit (the kernel orders its products
differently); ``tests/unit/test_nadam.py`` bounds the difference. Anything the identity does not
cover (maximize, decoupled weight decay, capturable or differentiable, complex or sparse
tensors, a gradient laid out unlike its weight, parameters at different step counts, a device
without the fused kernel) takes torch's own step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

FUSED_DEVICE_TYPES = ("cpu", "cuda")


def momentum_cache(step: int, beta1: float, momentum_decay: float) -> float:
    """μ_t = β₁·(1 − ½·0.96^(t·ψ)), NAdam's momentum coefficient at step t."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))


def nadam_coefficients(step: int, mu_product: float, lr: float, beta1: float,
                       momentum_decay: float) -> tuple[float, float]:
    """(A, B) of NAdam's step t, the update being −(A·g + B·m_new)/denominator, given
    Π_t = ``mu_product`` *after* the step's μ_t was multiplied in (as torch keeps it)."""
    mu = momentum_cache(step, beta1, momentum_decay)
    mu_next = momentum_cache(step + 1, beta1, momentum_decay)
    return lr * (1.0 - mu) / (1.0 - mu_product), lr * mu_next / (1.0 - mu_product * mu_next)


def fused_arguments(a: float, b: float, beta1: float, step: int) -> tuple[float, float]:
    """(β₁', η') for Adam's fused kernel so that its step on a copy of the old momentum is
    −(A·g + B·m_new)/denominator: β₁' = 1 − w, η' = (A + B)·(1 − β₁'^t). At η = 0 (A = B = 0, a
    schedule's end point) the step moves nothing: β₁' = 0 and η' = 0."""
    if a + b == 0.0:
        return 0.0, 0.0
    w = (a + b * (1.0 - beta1)) / (a + b)
    beta1_prime = 1.0 - w
    return beta1_prime, (a + b) * (1.0 - beta1_prime ** step)


def _same_dense_layout(*tensors: torch.Tensor) -> bool:
    """True when the tensors have one shape and one set of strides, with no gaps or overlaps: the
    fused kernel walks their memory side by side, so a channels_last weight with a contiguous
    gradient would pair the wrong entries."""
    first = tensors[0]
    dense = first.is_contiguous() or (first.dim() == 4 and first.is_contiguous(memory_format=torch.channels_last))
    return dense and all(t.shape == first.shape and t.stride() == first.stride() for t in tensors[1:])


@dataclass
class _GroupPlan:
    """What a group's fused step needs, gathered once and reused while the same parameters step:
    the state tensors, the copy-of-m buffers, the kernel's step tensor, and the step count t and
    Π_t kept as Python numbers (the state's 0-d tensors are updated with two foreach ops a step)."""

    params: list[torch.Tensor]
    exp_avgs: list[torch.Tensor]
    exp_avg_sqs: list[torch.Tensor]
    state_steps: list[torch.Tensor]
    mu_products: list[torch.Tensor]
    directions: list[torch.Tensor]
    device_steps: list[torch.Tensor]         # one 0-d float32 tensor on the parameters' device, n times
    t: int
    mu_product: float                        # Π_t, rounded to float32 as torch's state holds it


class FusedNAdam(torch.optim.NAdam):
    """``torch.optim.NAdam`` whose step runs through Adam's fused kernel (same update, same state).

    Construct it as torch's NAdam; ``foreach``/``fused`` flags are not taken (the step is fused
    where it can be, torch's otherwise). The Python work of a step is kept small (a plan per group,
    :class:`_GroupPlan`), since on a GPU it, not the arithmetic, bounds a small model's step."""

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         momentum_decay=momentum_decay, foreach=True)
        self._plans: dict[int, _GroupPlan] = {}     # index of the param group → its plan

    def load_state_dict(self, state_dict) -> None:
        self._plans.clear()
        super().load_state_dict(state_dict)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            params = [p for p in group["params"] if p.grad is not None]
            if params and not self._fused_group_step(index, group, params):
                self._plans.pop(index, None)       # torch's step moves the counts on by itself
                self._torch_group_step(group)
        return loss

    # ------------------------------------------------------------------------------------------
    def _fused_group_step(self, index: int, group, params) -> bool:
        """The fused step for one parameter group; False (nothing done) where it does not apply."""
        if group["maximize"] or group["decoupled_weight_decay"] or group["capturable"] or group["differentiable"] \
                or isinstance(group["lr"], torch.Tensor):
            return False
        grads = [p.grad for p in params]
        if not all(g.stride() == p.stride() and g.dtype == p.dtype and not g.is_sparse for p, g in zip(params, grads)):
            return False
        plan = self._plans.get(index)
        if plan is None or len(plan.params) != len(params) or any(a is not b for a, b in zip(plan.params, params)):
            plan = self._plan(params)
            if plan is None:
                return False
            self._plans[index] = plan
        beta1, beta2 = group["betas"]
        t = plan.t + 1
        mu = momentum_cache(t, beta1, group["momentum_decay"])
        plan.t, plan.mu_product = t, float(np.float32(plan.mu_product) * np.float32(mu))   # Π_t = Π_{t−1}·μ_t
        a, b = nadam_coefficients(t, plan.mu_product, group["lr"], beta1, group["momentum_decay"])
        beta1_prime, lr_prime = fused_arguments(a, b, beta1, t)

        if group["weight_decay"] != 0:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        torch._foreach_copy_(plan.directions, plan.exp_avgs)                # u = m (old)
        torch._foreach_lerp_(plan.exp_avgs, grads, 1.0 - beta1)             # m ← β₁·m + (1 − β₁)·g
        plan.device_steps[0].fill_(float(t))
        torch._fused_adam_(params, grads, plan.directions, plan.exp_avg_sqs, [], plan.device_steps, lr=lr_prime,
                           beta1=beta1_prime, beta2=beta2, weight_decay=0.0, eps=group["eps"], amsgrad=False,
                           maximize=False)
        torch._foreach_add_(plan.state_steps, 1.0)                          # the state, as torch keeps it
        torch._foreach_mul_(plan.mu_products, mu)
        return True

    def _plan(self, params) -> _GroupPlan | None:
        """A new plan for these parameters (torch's initial state made where there is none), or
        None when the identity does not apply to them."""
        first = params[0]
        if first.device.type not in FUSED_DEVICE_TYPES or not all(
                p.device == first.device and p.dtype == first.dtype and p.dtype.is_floating_point and not p.is_sparse
                for p in params):
            return None
        states = [self.state[p] for p in params]
        if any(len(s) == 0 for s in states):
            if any(len(s) != 0 for s in states):
                return None
            for p, s in zip(params, states):          # torch's initial state, as NAdam makes it
                s["step"] = torch.tensor(0.0)
                s["mu_product"] = torch.tensor(1.0)
                s["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                s["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if not all(_same_dense_layout(p, s["exp_avg"], s["exp_avg_sq"]) for p, s in zip(params, states)):
            return None
        steps = {float(s["step"]) for s in states}
        products = {float(s["mu_product"]) for s in states}
        if len(steps) != 1 or len(products) != 1 or any(s["step"].device.type != "cpu" for s in states):
            return None
        device_step = torch.zeros((), dtype=torch.float32, device=first.device)
        return _GroupPlan(params=list(params), exp_avgs=[s["exp_avg"] for s in states],
                          exp_avg_sqs=[s["exp_avg_sq"] for s in states], state_steps=[s["step"] for s in states],
                          mu_products=[s["mu_product"] for s in states],
                          directions=[torch.empty_like(p, memory_format=torch.preserve_format) for p in params],
                          device_steps=[device_step] * len(params), t=int(steps.pop()), mu_product=products.pop())

    def _torch_group_step(self, group) -> None:
        """torch's own NAdam step for one group (the cases the identity does not cover)."""
        step = torch.optim.NAdam.step
        if getattr(step, "hooked", False):       # torch wraps a class's step with its hook runner:
            step = step.__wrapped__              # this optimizer's hooks already ran around our step
        saved, self.param_groups = self.param_groups, [group]
        try:
            step(self)
        finally:
            self.param_groups = saved
