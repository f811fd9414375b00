"""Iterative magnitude pruning (IMP) and its relatives: WR, LRR, fine-tuning, AIMP.

One repeat, following Algorithm 1 of Zullich et al. (AIMP paper) and Renda et al.'s variants:

* **Round 0** trains the dense network for T epochs on the schedule η(t), saving θ_k, the
  full state after k epochs (k = ``rewind_epoch``; k = 0 is the initialisation θ₀, the
  original lottery ticket).
* **Round r = 1 … R**: prune a fraction p of what survives (the configured pruner, scored on the
  trained weights θ_T^(r−1)), treat the weights and retrain (:mod:`.retraining`):

  - IMP+WR: ``treatment = "rewind"``, ``lr_policy = "replay"``: θ ← θ_k ⊙ m^(r), train schedule
    epochs k … T−1;
  - IMP+LRR: ``treatment = "keep"``, ``lr_policy = "replay"``: θ ← θ_T^(r−1) ⊙ m^(r), replay k … T−1;
  - fine-tuning: ``treatment = "keep"``, ``lr_policy = "ft"``: T_rt epochs at the last LR η_T;
  - any other treatment × LR policy (σ·sign(w₀) …, LRW, SLR, CLR, LLR, ALLR).

  AIMP (``partial_epochs`` = τ, with replay): rounds 1 … R−1 retrain only schedule epochs
  k … τ−1, the last round the full k … T−1, so the search cost falls from R(T − k) to
  (R − 1)(τ − k) + T − k.

p is ``rate``, or 1 − (1 − s)^(1/R) for a ``target_sparsity`` s. Each round starts a fresh optimizer.
The data order of round r is drawn from a generator seeded by (seed, r), so a resumed run trains
exactly as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config.fields import FieldError, option
from ..lr_policies import Replay
from ..plan import LRPlan, Plan, RoundPlan
from ..registry import ALGORITHMS
from ..schedules import geometric_sparsity
from . import retraining
from .base import Algorithm
from .retraining import FRACTION


def dense_round(T: int, k: int) -> RoundPlan:
    """Round 0: T dense epochs on the original schedule, saving θ_k after k of them."""
    return RoundPlan(0, T, LRPlan(Replay(), T, 0), checkpoints=((k, "rewind"),))


@ALGORITHMS.register("imp", label="IMP: iterative rounds (AIMP with τ)")
@dataclass(frozen=True)
class IMP(Algorithm):
    """Iterative pruning: train, then R rounds of prune → treat the weights → retrain (IMP, AIMP)."""

    rounds: int = option(5, "Pruning rounds R (round 0, the dense training, not counted).", low=1, high=200)
    rate: float = option(0.2, "Per-round rate p: the fraction of the still-alive weights (or units) removed "
                         "each round, so sparsity after r rounds is 1 − (1 − p)^r.", low=0.0, high=1.0,
                         low_open=True, high_open=True,
                         when={"algorithm.target_sparsity": (None,), **FRACTION})
    target_sparsity: float | None = option(None, "Final sparsity s: p = 1 − (1 − s)^(1/R) replaces rate.",
                                           low=0.0, high=1.0, low_open=True, high_open=True, example=0.9,
                                           when=FRACTION)
    partial_epochs: int | None = option(None, "AIMP's τ: rounds 1 … R−1 retrain schedule epochs k … τ−1 "
                                        "instead of k … T−1; the last round the full T − k. null = plain IMP.",
                                        low=1, example=3, when={"algorithm.lr_policy.name": ("replay",)},
                                        label="Partial epochs τ")
    rewind_epoch: int = retraining.rewind_epoch_option()
    treatment: str = retraining.treatment_option()
    lr_policy: Any = retraining.lr_policy_option()
    retrain_epochs: int | None = retraining.retrain_epochs_option()

    def per_round_rate(self) -> float:
        """p (derived from target_sparsity when given)."""
        if self.target_sparsity is not None:
            return 1.0 - (1.0 - self.target_sparsity) ** (1.0 / self.rounds)
        return self.rate

    def plan(self, config) -> Plan:
        T, k, R, tau = config.training.epochs, self.rewind_epoch, self.rounds, self.partial_epochs
        p = self.per_round_rate()
        planned = geometric_sparsity(p, R) if config.pruner.selection.plugin_name == "fraction" else [0.0] + [None] * R
        rounds, cumulative = [dense_round(T, k)], 0
        for r in range(1, R + 1):
            end = tau if (tau is not None and r < R) else None
            epochs, start = retraining.retrain_length(self, T, end)
            cumulative += epochs
            rounds.append(retraining.retraining_round(self, r, p, planned[r], epochs, start, cumulative))
        aimp = f", AIMP τ = {tau}" if tau is not None else ""
        return Plan(tuple(rounds), rate=p, headline=f"imp, {R} rounds at p = {p:.4f}, treatment {self.treatment}, "
                    f"LR {self.lr_policy.plugin_name} (k = {k}){aimp}")

    def check(self, config) -> list[FieldError]:
        errors = retraining.check_retraining(self, config)
        T, k, tau = config.training.epochs, self.rewind_epoch, self.partial_epochs
        if tau is not None and not (k < tau <= T):
            errors.append(FieldError("algorithm.partial_epochs", tau,
                                     f"tau with rewind_epoch ({k}) < tau <= training.epochs ({T}), "
                                     "so that intermediate rounds retrain tau - k >= 1 epochs"))
        elif tau is not None and self.rounds < 2:
            errors.append(FieldError("algorithm.partial_epochs", tau,
                                     "null with rounds = 1: τ shortens the rounds before the last, and there are none"))
        return errors
