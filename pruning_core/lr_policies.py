"""Retraining learning-rate policies (registered): the LR of a round after pruning.

Each policy is a small frozen dataclass whose fields are its options and whose
``lr(t, env)`` gives the LR at position t = e + i/n of the round (iteration i of n in epoch e; for
``replay``, e counts from the rewind epoch k). ``env`` (:class:`~pruning_core.plan.LREnv`) holds
the original schedule η(t) over T epochs, n, the round's epochs T_rt and ALLR's d. With η₁ the
initial LR and w = warmup_fraction · T_rt:

* ``replay``  η(t) from epoch k: weight rewinding (WR) and learning-rate rewinding (LRR)
* ``ft``      η_T, the original schedule's last LR (fine-tuning; Han et al. 2015)
* ``lrw``     η(T − T_rt + t): the schedule's last T_rt epochs (Renda et al. 2020)
* ``slr``     η(t · T / T_rt): the whole schedule compressed into T_rt (Le & Hua 2021)
* ``clr``     one cycle: warm-up to η₁ over w, then cosine decay to 0 (Le & Hua 2021)
* ``llr``     warm-up to η₁ over w, then linear decay to 0 (Zimmer et al., BIMP paper)
* ``allr``    LLR with η₁ replaced by d · η₁, d = max(d₁, d₂) (:func:`allr_discount`)

Warm-ups step with the iteration: their factor is (t + 1/n)/w, as in the original schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .config.fields import option
from .registry import LR_POLICIES


class LRPolicy:
    """Base of a retraining LR policy. ``replays``: the round trains epochs k … of the original
    schedule (t counts from k); ``needs_discount``: the LR uses ALLR's d, measured when pruning."""

    suggests: ClassVar[dict] = {}
    replays: ClassVar[bool] = False
    needs_discount: ClassVar[bool] = False

    def lr(self, t: float, env) -> float:
        raise NotImplementedError


@LR_POLICIES.register("replay")
@dataclass(frozen=True)
class Replay(LRPolicy):
    """Replay the original schedule from the rewind epoch k (WR and LRR)."""

    replays: ClassVar[bool] = True

    def lr(self, t: float, env) -> float:
        return env.eta(t)


@LR_POLICIES.register("ft")
@dataclass(frozen=True)
class FineTune(LRPolicy):
    """Fine-tuning: the original schedule's last LR η_T, held constant (Han et al. 2015)."""

    def lr(self, t: float, env) -> float:
        return env.schedule.last_lr(env.steps)


@LR_POLICIES.register("lrw")
@dataclass(frozen=True)
class LRRewind(LRPolicy):
    """LR rewinding to the schedule's last T_rt epochs: η(T − T_rt + t) (Renda et al. 2020)."""

    def lr(self, t: float, env) -> float:
        return env.eta(env.T - env.epochs + t)


@LR_POLICIES.register("slr")
@dataclass(frozen=True)
class ScaledLR(LRPolicy):
    """Scaled LR: the whole original schedule compressed into T_rt, η(t · T / T_rt) (Le & Hua 2021)."""

    def lr(self, t: float, env) -> float:
        return env.eta(t * env.T / env.epochs)


@dataclass(frozen=True)
class _WarmupDecay(LRPolicy):
    warmup_fraction: float = option(0.1, "Warm-up as a fraction of each retraining (the BIMP paper's "
                                    "'short warm-up').", low=0.0, high=1.0, high_open=True)

    def _warm(self, t: float, env) -> float:
        w = self.warmup_fraction * env.epochs
        return min(1.0, (t + 1.0 / env.steps) / w) if w > 0 else 1.0

    def _progress(self, t: float, env) -> float:
        w = self.warmup_fraction * env.epochs
        return min(1.0, max(0.0, (t - w) / (env.epochs - w)))

    def _in_warmup(self, t: float, env) -> bool:
        return t < self.warmup_fraction * env.epochs


@LR_POLICIES.register("clr")
@dataclass(frozen=True)
class CyclicLR(_WarmupDecay):
    """One-cycle: linear warm-up to η₁, then cosine decay to 0 (Le & Hua 2021)."""

    def lr(self, t: float, env) -> float:
        if self._in_warmup(t, env):
            return env.eta1 * self._warm(t, env)
        return env.eta1 * (0.5 * (1.0 + math.cos(math.pi * self._progress(t, env))))


@LR_POLICIES.register("llr")
@dataclass(frozen=True)
class LinearLR(_WarmupDecay):
    """Linear warm-up to η₁, then linear decay to 0 (the BIMP paper's LLR)."""

    def _peak(self, env) -> float:
        return env.eta1 * 1.0

    def lr(self, t: float, env) -> float:
        peak = self._peak(env)
        return peak * (self._warm(t, env) if self._in_warmup(t, env) else 1.0 - self._progress(t, env))


@LR_POLICIES.register("allr")
@dataclass(frozen=True)
class AdaptiveLinearLR(LinearLR):
    """LLR with the peak discounted by d = max(d₁, d₂), measured at each pruning step (BIMP paper's ALLR)."""

    needs_discount: ClassVar[bool] = True

    def _peak(self, env) -> float:
        return env.eta1 * env.d


def allr_discount(pruned_norm: float, alive_norm: float, pruned_fraction: float,
                  retrain_epochs: int, epochs: int) -> float:
    """ALLR's d = max(d₁, d₂): d₁ = ‖θ − θ_p‖₂ / (‖θ‖₂ · √s), d₂ = T_rt / T (clipped to [0, 1]).

    θ is the vector of prunable weights alive before this pruning step, θ_p the same after it, and
    s the fraction of θ that the step removed, so ‖θ − θ_p‖₂ is the norm of the removed weights.
    """
    d1 = pruned_norm / (alive_norm * math.sqrt(pruned_fraction)) if pruned_fraction > 0 and alive_norm > 0 else 0.0
    return min(1.0, max(d1, retrain_epochs / epochs))
