"""Schedules as pure functions of the epoch: the original LR schedule η(t) and the sparsity
schedules of gradual pruning (registered plug-ins: ``sigmoid``, ASNI's; ``polynomial``, Zhu &
Gupta's).

The training loop sets the LR every iteration from η(t), where ``t = e + i/n`` is the position of
iteration ``i`` of ``n`` in epoch ``e`` of the *original* schedule of T epochs. A sparsity
schedule gives the global sparsity after each epoch e = 1 … E of a gradual run; it owns its
parameters (the final sparsity among them), so a new schedule is one small class::

    @register_schedule("exponential")
    @dataclass(frozen=True)
    class Exponential(SparsitySchedule):
        target_sparsity: float = option(0.9, "Sparsity after the last epoch.", low=0, high=1, high_open=True)
        def sparsities(self, epochs):
            return [self.target_sparsity * (1 - 0.5 ** e) / (1 - 0.5 ** epochs) for e in range(1, epochs + 1)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from .config.fields import FieldError, option
from .registry import SCHEDULES


@dataclass(frozen=True)
class LRSchedule:
    """η(t) of the original training run: base schedule × linear warm-up.

    * ``constant``: η(t) = η₁
    * ``step``: η(t) = η₁ · γ^(number of milestones ≤ t)
    * ``cosine``: η(t) = η₁ · ½ (1 + cos(π t / T))
    * ``linear``: η(t) = η₁ · (1 − t / T)

    Warm-up over w epochs multiplies by min(1, (t + 1/n) / w), so the very first iteration
    already has a non-zero LR (η₁ / (w·n)). ``config`` is the training section.
    """

    config: Any

    def __call__(self, t: float, steps_per_epoch: int = 1) -> float:
        c = self.config
        T = c.epochs
        if c.lr_schedule == "constant":
            lr = c.lr
        elif c.lr_schedule == "step":
            lr = c.lr * c.gamma ** sum(1 for m in c.milestones if m <= t)
        elif c.lr_schedule == "cosine":
            lr = c.lr * 0.5 * (1.0 + math.cos(math.pi * t / T))
        elif c.lr_schedule == "linear":
            lr = c.lr * (1.0 - t / T)
        else:
            raise ValueError(f"training.lr_schedule: got {c.lr_schedule!r}; allowed: constant, step, cosine, linear")
        if c.warmup_epochs > 0:
            lr *= min(1.0, (t + 1.0 / steps_per_epoch) / c.warmup_epochs)
        return lr

    def last_lr(self, steps_per_epoch: int) -> float:
        """η of the final iteration of the original run: the constant LR of fine-tuning (FT)."""
        return self(self.config.epochs - 1.0 / steps_per_epoch, steps_per_epoch)


def geometric_sparsity(rate: float, rounds: int) -> list[float]:
    """IMP's planned global sparsity after rounds 0..R: s_r = 1 − (1 − p)^r."""
    return [1.0 - (1.0 - rate) ** r for r in range(rounds + 1)]


def sigmoid_schedule(alpha: float, beta: float, gamma: float, epochs: int) -> list[float]:
    """ASNI-I's global sparsity after each epoch e = 1..E: p_e = α · sigmoid((e − βE)/γ)."""
    return [alpha / (1.0 + math.exp(-(e - beta * epochs) / gamma)) for e in range(1, epochs + 1)]


def solve_sigmoid_alpha(target: float, beta: float, gamma: float, epochs: int) -> float:
    """α such that the last epoch's sparsity p_E equals ``target`` exactly."""
    return target * (1.0 + math.exp(-(epochs - beta * epochs) / gamma))


def polynomial_schedule(initial: float, final: float, start: int, end: int, epochs: int) -> list[float]:
    """Zhu & Gupta's cubic schedule after each epoch e = 1..E:
    s_e = s_f + (s_i − s_f)(1 − (e − t₀)/(t_end − t₀))³ between t₀ and t_end, s_i before, s_f after."""
    out = []
    for e in range(1, epochs + 1):
        progress = min(1.0, max(0.0, (e - start) / (end - start)))
        out.append(final + (initial - final) * (1.0 - progress) ** 3)
    return out


# --------------------------------------------------------------------------------------------
# Sparsity schedules of gradual pruning (registered)
# --------------------------------------------------------------------------------------------

class SparsitySchedule:
    """Base of a sparsity schedule: its options are the dataclass fields of the subclass."""

    suggests: ClassVar[dict] = {}

    def sparsities(self, epochs: int) -> list[float]:
        """Global sparsity after each epoch e = 1 … E (never decreasing)."""
        raise NotImplementedError

    def check(self, config) -> list[FieldError]:
        """Constraints involving other fields (each error names the field to change)."""
        return []


FIELD = "algorithm.schedule"


@SCHEDULES.register("sigmoid")
@dataclass(frozen=True)
class Sigmoid(SparsitySchedule):
    """ASNI's sigmoid (Damadi et al.): p_e = α · sigmoid((e − βE)/γ), α solved so that the last epoch
    reaches the target sparsity."""

    target_sparsity: float | None = option(0.8, "Global sparsity after the last epoch E; α is solved so "
                                           "that p_E equals it exactly. null = give alpha instead.",
                                           low=0.0, high=1.0, low_open=True, high_open=True, example=0.8)
    alpha: float | None = option(None, "α, the final-sparsity scale (p_E is slightly below α); only with "
                                 "target_sparsity null.", low=0.0, high=1.0, low_open=True, high_open=True,
                                 example=0.8, when={f"{FIELD}.target_sparsity": (None,)})
    beta: float = option(0.5, "β: where the inflection sits, as a fraction of E.", low=0.0, high=1.0)
    gamma: float | None = option(None, "γ: the transition's width in epochs; null = E/10 (the paper's).",
                                 low=0.0, low_open=True, example=1.0)

    def gamma_for(self, epochs: int) -> float:
        """γ, default E/10."""
        return self.gamma if self.gamma is not None else epochs / 10.0

    def alpha_for(self, epochs: int) -> float:
        """α: given, or solved so that p_E = target_sparsity."""
        if self.alpha is not None:
            return self.alpha
        return solve_sigmoid_alpha(self.target_sparsity, self.beta, self.gamma_for(epochs), epochs)

    def sparsities(self, epochs: int) -> list[float]:
        return sigmoid_schedule(self.alpha_for(epochs), self.beta, self.gamma_for(epochs), epochs)

    def check(self, config) -> list[FieldError]:
        E = config.training.epochs
        if self.target_sparsity is None and self.alpha is None:
            return [FieldError(f"{FIELD}.target_sparsity", None, "a final sparsity in (0, 1), or set alpha")]
        alpha = self.alpha_for(E)
        if not 0.0 < alpha < 1.0:
            return [FieldError(f"{FIELD}.target_sparsity", self.target_sparsity,
                               f"a target whose alpha lies in (0, 1): it needs alpha = {alpha:.4f}; lower the "
                               "target or raise gamma / lower beta")]
        return []


@SCHEDULES.register("polynomial")
@dataclass(frozen=True)
class Polynomial(SparsitySchedule):
    """Zhu & Gupta's cubic schedule: s_e = s_f (1 − (1 − (e − t₀)/(t_end − t₀))³) between t₀ and t_end."""

    target_sparsity: float = option(0.8, "s_f: the global sparsity reached at t_end and kept after it.",
                                    low=0.0, high=1.0, low_open=True, high_open=True)
    start: int = option(0, "t₀: the epoch after which sparsity starts to rise.", low=0)
    end: int | None = option(None, "t_end: the epoch at which the target is reached; null = ⌈3T/4⌉.",
                             low=1, example=3)

    def end_for(self, epochs: int) -> int:
        return self.end if self.end is not None else -(-3 * epochs // 4)

    def sparsities(self, epochs: int) -> list[float]:
        return polynomial_schedule(0.0, self.target_sparsity, self.start, self.end_for(epochs), epochs)

    def check(self, config) -> list[FieldError]:
        T = config.training.epochs
        if not self.start < self.end_for(T) <= T:
            return [FieldError(f"{FIELD}.end", self.end,
                               f"an epoch with start ({self.start}) < end <= training.epochs ({T})")]
        return []
