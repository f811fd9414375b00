"""Learning-rate and sparsity schedules as pure functions of the (fractional) epoch.

The training loop sets the LR every iteration from ``lr_at(t)``, where ``t = e + i/n`` is the
position of iteration ``i`` of ``n`` in epoch ``e`` of the *original* schedule of T epochs. Weight
and learning-rate rewinding replay this schedule from epoch k; fine-tuning holds its last value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import TrainingConfig


@dataclass(frozen=True)
class LRSchedule:
    """η(t) of the original training run: base schedule × linear warm-up.

    * ``constant``: η(t) = η₁
    * ``step``: η(t) = η₁ · γ^(number of milestones ≤ t)
    * ``cosine``: η(t) = η₁ · ½ (1 + cos(π t / T))
    * ``linear``: η(t) = η₁ · (1 − t / T)

    Warm-up over w epochs multiplies by min(1, (t + 1/n) / w), so the very first iteration
    already has a non-zero LR (η₁ / (w·n)).
    """

    config: TrainingConfig

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
