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
* ``clr``     one cycle: warm-up to η₁ over w, then cosine decay to η_min, the original schedule's
  minimum LR after its warm-up (``decay_to = "schedule_min"``, ZIB-IOL/BIMP's CLR), or to 0
  (``decay_to = "zero"``) (Le & Hua 2021)
* ``llr``     warm-up to η₁ over w, then linear decay to 0 (Zimmer et al., BIMP paper)
* ``allr``    LLR with η₁ replaced by d · η₁, d = max(d₁, d₂) (:func:`allr_discount`); ‖θ‖ in d₁
  over all the model's parameters (``d1_over = "all_parameters"``, ZIB-IOL/BIMP's reading) or
  over the alive prunable weights (``d1_over = "prunable_weights"``)

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

    def discount(self, parameters: dict, before: dict, after: dict, retrain_epochs: int,
                 epochs: int) -> tuple[float, float]:
        """(d, d₁) of one pruning step (a policy that ``needs_discount``): d = max(d₁, d₂), with ‖θ‖
        over what the policy's ``d1_over`` says (default all parameters; :func:`removed_and_total_norms`)."""
        over = getattr(self, "d1_over", "all_parameters")
        removed, total, s = removed_and_total_norms(parameters, before, after, over)
        return allr_discount(removed, total, s, retrain_epochs, epochs), allr_d1(removed, total, s)


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


CLR_FLOORS = ("schedule_min", "zero")


def schedule_min_lr(env) -> float:
    """η_min: the smallest LR of the original run after its warm-up, as ZIB-IOL/BIMP's ``minLR``
    (runners/baseRunner.py, ``min(lr_dict.values()[after_warmup_index:])``). Every
    ``training.lr_schedule`` is non-increasing after the warm-up (step's γ ≤ 1), so η_min is the
    LR of the final iteration, η(T − 1/n): η₁ for ``constant``, η₁·γ^(milestones before T) for
    ``step``, η₁/(n·T) for ``linear``, η₁·½(1 + cos(π(T − 1/n)/T)) for ``cosine``."""
    return env.schedule.last_lr(env.steps)


@LR_POLICIES.register("clr")
@dataclass(frozen=True)
class CyclicLR(_WarmupDecay):
    """One-cycle: linear warm-up to η₁, then cosine decay η_f + (η₁ − η_f) · ½(1 + cos(π p)) to the
    original schedule's minimum LR η_f (as ZIB-IOL/BIMP) or to 0, as decay_to says (Le & Hua 2021)."""

    decay_to: str = option("schedule_min", "Where the cosine ends: schedule_min = the original schedule's "
                           "smallest LR after its warm-up, η(T − 1/n) (ZIB-IOL/BIMP's CLR); zero = 0.",
                           choices=CLR_FLOORS, label="CLR decays to",
                           choice_labels={"schedule_min": "the original schedule's minimum LR (reference code)",
                                          "zero": "0"})

    def floor(self, env) -> float:
        """η_f, the LR at the end of the cosine."""
        return schedule_min_lr(env) if self.decay_to == "schedule_min" else 0.0

    def lr(self, t: float, env) -> float:
        if self._in_warmup(t, env):
            return env.eta1 * self._warm(t, env)
        low = self.floor(env)
        return low + (env.eta1 - low) * (0.5 * (1.0 + math.cos(math.pi * self._progress(t, env))))


@LR_POLICIES.register("llr")
@dataclass(frozen=True)
class LinearLR(_WarmupDecay):
    """Linear warm-up to η₁, then linear decay to 0 (the BIMP paper's LLR)."""

    def _peak(self, env) -> float:
        return env.eta1 * 1.0

    def lr(self, t: float, env) -> float:
        peak = self._peak(env)
        return peak * (self._warm(t, env) if self._in_warmup(t, env) else 1.0 - self._progress(t, env))


D1_OVER = ("all_parameters", "prunable_weights")


def d1_over_option():
    """The ``d1_over`` option of ALLR (its own, and BIMP's, which builds its ALLR itself)."""
    return option("all_parameters", "The vector θ whose norm ‖θ‖ divides d₁ = ‖θ − θ_p‖ / (‖θ‖·√s): "
                  "all_parameters = every parameter of the model, weights, biases and batch-norm scales "
                  "and shifts (ZIB-IOL/BIMP's reading); prunable_weights = the alive conv/linear weights "
                  "only.",
                  choices=D1_OVER, label="ALLR's d₁ over",
                  choice_labels={"all_parameters": "all parameters (reference code)",
                                 "prunable_weights": "the alive prunable weights"})


@LR_POLICIES.register("allr")
@dataclass(frozen=True)
class AdaptiveLinearLR(LinearLR):
    """LLR with the peak discounted by d = max(d₁, d₂), measured at each pruning step (BIMP paper's ALLR)."""

    needs_discount: ClassVar[bool] = True
    d1_over: str = d1_over_option()

    def _peak(self, env) -> float:
        return env.eta1 * env.d


def removed_and_total_norms(parameters: dict, before: dict, after: dict, over: str) -> tuple[float, float, float]:
    """(‖θ − θ_p‖₂, ‖θ‖₂, s) of one pruning step that turned the masks ``before`` into ``after``.

    ``parameters``: the model's named parameters (tensors); the masks key its prunable weights.
    θ_p is θ with the removed weights zeroed, so ‖θ − θ_p‖₂ is the norm of the weights the step
    removed; s is the fraction of the alive prunable weights it removed (the per-round rate, as
    ``pruning_sparsity`` in ZIB-IOL/BIMP). θ: ``all_parameters``: every parameter, weights alive
    before the step, biases, batch-norm γ and β (running statistics are buffers, not parameters):
    ZIB-IOL/BIMP's ``Utilities.get_model_norm_square`` (utilities/utilities.py); with pruned
    weights zero there, masking by ``before`` is the same. ``prunable_weights``: the alive
    conv/linear weights only.
    """
    if over not in D1_OVER:
        raise ValueError(f"d1_over: got {over!r}; allowed: {', '.join(D1_OVER)}")
    removed_sq = total_sq = 0.0
    alive_before = alive_after = 0
    for name, w in parameters.items():
        w = w.detach().float()
        if name in before:
            total_sq += float((w[before[name]] ** 2).sum())
            removed_sq += float((w[before[name] & ~after[name]] ** 2).sum())
            alive_before += int(before[name].sum())
            alive_after += int(after[name].sum())
        elif over == "all_parameters":
            total_sq += float((w ** 2).sum())
    s = (alive_before - alive_after) / alive_before if alive_before else 0.0
    return math.sqrt(removed_sq), math.sqrt(total_sq), s


def allr_d1(removed_norm: float, norm: float, pruned_fraction: float) -> float:
    """d₁ = ‖θ − θ_p‖₂ / (‖θ‖₂ · √s) (0 when nothing was pruned or θ = 0)."""
    if pruned_fraction <= 0 or norm <= 0:
        return 0.0
    return removed_norm / (norm * math.sqrt(pruned_fraction))


def allr_discount(removed_norm: float, norm: float, pruned_fraction: float,
                  retrain_epochs: int, epochs: int) -> float:
    """ALLR's d = max(d₁, d₂), capped at 1: d₁ = ‖θ − θ_p‖₂ / (‖θ‖₂ · √s), d₂ = T_rt / T.

    As ZIB-IOL/BIMP (runners/baseRunner.py, ``define_retrain_schedule``): the peak is
    clip(d₁·η₁, d₂·η₁, η₁) with d₂ = min(T_rt / T, 1). Which θ ‖θ‖ runs over is the caller's
    choice (:func:`removed_and_total_norms`).
    """
    return min(1.0, max(allr_d1(removed_norm, norm, pruned_fraction), retrain_epochs / epochs))
