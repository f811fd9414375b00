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
    −(A·g + B·m_new)/denominator: β₁' = 1 − w, η' = (A + B)·(1 − β₁'^t)."""
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


class FusedNAdam(torch.optim.NAdam):
    """``torch.optim.NAdam`` whose step runs through Adam's fused kernel (same update, same state).

    Construct it as torch's NAdam; ``foreach``/``fused`` flags are not taken (the step is fused
    where it can be, torch's otherwise)."""

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         momentum_decay=momentum_decay, foreach=True)
        self._scratch: dict[int, torch.Tensor] = {}    # id(param) → buffer for the copy of m

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params and not self._fused_group_step(group, params):
                self._torch_group_step(group)
        return loss

    # ------------------------------------------------------------------------------------------
    def _fusable(self, group, params) -> bool:
        if group["maximize"] or group["decoupled_weight_decay"] or group["capturable"] or group["differentiable"]:
            return False
        if isinstance(group["lr"], torch.Tensor):
            return False
        first = params[0]
        if first.device.type not in FUSED_DEVICE_TYPES:
            return False
        return all(p.device == first.device and p.dtype == first.dtype and p.dtype.is_floating_point
                   and not p.is_sparse and not p.grad.is_sparse and p.grad.dtype == p.dtype for p in params)

    def _fused_group_step(self, group, params) -> bool:
        """The fused step for one parameter group; False (nothing done) where it does not apply."""
        if not self._fusable(group, params):
            return False
        states = [self.state[p] for p in params]
        if not all(_same_dense_layout(p, p.grad, *(s[k] for k in ("exp_avg", "exp_avg_sq") if k in s))
                   for p, s in zip(params, states)):
            return False
        if any(len(s) == 0 for s in states):
            if any(len(s) != 0 for s in states):
                return False
            for p, s in zip(params, states):          # torch's initial state, as NAdam makes it
                s["step"] = torch.tensor(0.0)
                s["mu_product"] = torch.tensor(1.0)
                s["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                s["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        steps = {float(s["step"]) for s in states}
        products = {float(s["mu_product"]) for s in states}
        if len(steps) != 1 or len(products) != 1 or any(s["step"].device.type != "cpu" for s in states):
            return False
        beta1, beta2 = group["betas"]
        t = int(steps.pop()) + 1
        for s in states:                                          # Π_t = Π_{t−1}·μ_t, in float32 as torch
            s["step"].add_(1)
            s["mu_product"].mul_(momentum_cache(t, beta1, group["momentum_decay"]))
        a, b = nadam_coefficients(t, float(states[0]["mu_product"]), group["lr"], beta1, group["momentum_decay"])
        beta1_prime, lr_prime = fused_arguments(a, b, beta1, t)

        grads = [p.grad for p in params]
        if group["weight_decay"] != 0:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        direction = [self._buffer(p) for p in params]
        torch._foreach_copy_(direction, exp_avgs)                 # u = m (old)
        torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)        # m ← β₁·m + (1 − β₁)·g
        device_steps = [torch.full((), float(t), dtype=torch.float32, device=params[0].device)] * len(params)
        torch._fused_adam_(params, grads, direction, exp_avg_sqs, [], device_steps, lr=lr_prime, beta1=beta1_prime,
                           beta2=beta2, weight_decay=0.0, eps=group["eps"], amsgrad=False, maximize=False)
        return True

    def _buffer(self, param: torch.Tensor) -> torch.Tensor:
        buf = self._scratch.get(id(param))
        if buf is None or buf.shape != param.shape or buf.dtype != param.dtype or buf.device != param.device \
                or buf.stride() != param.stride():
            buf = torch.empty_like(param, memory_format=torch.preserve_format)
            self._scratch[id(param)] = buf
        return buf

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
