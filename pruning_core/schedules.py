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


def sigmoid_schedule(alpha: float, beta: float, gamma: float, epochs: int) -> list[float]:
    """ASNI-I's global sparsity after each epoch e = 1..E: p_e = α · sigmoid((e − βE)/γ)."""
    return [alpha / (1.0 + math.exp(-(e - beta * epochs) / gamma)) for e in range(1, epochs + 1)]


def solve_sigmoid_alpha(target: float, beta: float, gamma: float, epochs: int) -> float:
    """α such that the last epoch's sparsity p_E equals ``target`` exactly."""
    alpha = target * (1.0 + math.exp(-(epochs - beta * epochs) / gamma))
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"algorithm.target_sparsity: {target} needs alpha = {alpha:.4f}, outside (0, 1); "
                         "lower the target or raise sigmoid_gamma/lower sigmoid_beta")
    return alpha


def polynomial_schedule(initial: float, final: float, start: int, end: int, epochs: int) -> list[float]:
    """Zhu & Gupta's cubic schedule after each epoch e = 1..E:
    s_e = s_f + (s_i − s_f)(1 − (e − t₀)/(t_end − t₀))³ between t₀ and t_end, s_i before, s_f after."""
    out = []
    for e in range(1, epochs + 1):
        progress = min(1.0, max(0.0, (e - start) / (end - start)))
        out.append(final + (initial - final) * (1.0 - progress) ** 3)
    return out


RETRAIN_POLICIES = ("ft", "lrw", "slr", "clr", "llr", "allr")


def retraining_lr(policy: str, original: LRSchedule, *, retrain_epochs: int, steps_per_epoch: int,
                  warmup_fraction: float = 0.1, d: float = 1.0):
    """LR at fractional retraining time t ∈ [0, T_rt) for the BIMP paper's policies.

    With the original schedule η(t) over T epochs and T_rt retraining epochs:

    * ``ft``   η(t) = η_T, the original schedule's last LR (Han et al. 2015)
    * ``lrw``  η(T − T_rt + t): the original schedule's last T_rt epochs (Renda et al. 2020)
    * ``slr``  η(t · T / T_rt): the whole original schedule compressed into T_rt (Le & Hua 2021)
    * ``clr``  1-cycle: linear warm-up to η₁ over the first w = warmup_fraction · T_rt epochs,
               then cosine decay to 0: η₁ · ½(1 + cos(π (t − w)/(T_rt − w))) (Le & Hua 2021)
    * ``llr``  linear warm-up to η₁ over w, then linear decay η₁ (1 − (t − w)/(T_rt − w)) to 0
    * ``allr`` LLR with η₁ replaced by d · η₁, d = max(d₁, d₂) computed by the caller

    Warm-ups step with the iteration: their factor is (t + 1/n)/w, as in :class:`LRSchedule`.
    """
    T = original.config.epochs
    eta1 = original.config.lr
    n = steps_per_epoch
    w = warmup_fraction * retrain_epochs

    def warm(t: float) -> float:
        return min(1.0, (t + 1.0 / n) / w) if w > 0 else 1.0

    def decay_progress(t: float) -> float:
        return min(1.0, max(0.0, (t - w) / (retrain_epochs - w)))

    if policy == "ft":
        last = original.last_lr(n)
        return lambda t: last
    if policy == "lrw":
        return lambda t: original(T - retrain_epochs + t, n)
    if policy == "slr":
        return lambda t: original(t * T / retrain_epochs, n)
    if policy == "clr":
        return lambda t: eta1 * (warm(t) if t < w else 0.5 * (1.0 + math.cos(math.pi * decay_progress(t))))
    if policy in ("llr", "allr"):
        peak = eta1 * (d if policy == "allr" else 1.0)
        return lambda t: peak * (warm(t) if t < w else 1.0 - decay_progress(t))
    raise ValueError(f"algorithm.lr_policy: got {policy!r}; allowed: {', '.join(RETRAIN_POLICIES)}")


def allr_discount(pruned_norm: float, alive_norm: float, pruned_fraction: float,
                  retrain_epochs: int, epochs: int) -> float:
    """ALLR's d = max(d₁, d₂): d₁ = ‖θ − θ_p‖₂ / (‖θ‖₂ · √s), d₂ = T_rt / T (clipped to [0, 1]).

    θ is the vector of prunable weights alive before this pruning step, θ_p the same after it, and
    s the fraction of θ that the step removed, so ‖θ − θ_p‖₂ is the norm of the removed weights.
    """
    d1 = pruned_norm / (alive_norm * math.sqrt(pruned_fraction)) if pruned_fraction > 0 and alive_norm > 0 else 0.0
    return min(1.0, max(d1, retrain_epochs / epochs))
