"""Budgeted IMP (BIMP; Zimmer, Spiegel & Pokutta, "How I learned to stop worrying and love
retraining"): IMP within a fixed budget of T = ``training.epochs`` epochs.

* Round 0 trains the dense network for T0 = ``dense_epochs`` epochs with the LR falling linearly
  from η₁ to 0 (LLR without warm-up).
* Rounds r = 1 … R each prune a fraction p of the alive weights, keep the trained weights and
  retrain with ALLR; they share the remaining T − T0 epochs evenly, the last round taking the
  remainder: ⌊(T − T0)/R⌋ each, and T − T0 − (R − 1)·⌊(T − T0)/R⌋ for round R.
* ALLR's d₁ divides by ‖θ‖ over all parameters (``d1_over``, as ZIB-IOL/BIMP) or over the alive
  prunable weights; d₂ = T_rt / T with T the whole budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config.fields import FieldError, option
from ..lr_policies import AdaptiveLinearLR, LinearLR, d1_over_option
from ..plan import LRPlan, Plan, PruneStep, RoundPlan
from ..registry import ALGORITHMS
from ..schedules import geometric_sparsity
from .base import Algorithm
from .retraining import FRACTION


@ALGORITHMS.register("bimp", label="bimp: budgeted IMP (BIMP)")
@dataclass(frozen=True)
class BIMP(Algorithm):
    """Budgeted IMP: T0 dense epochs, then R rounds of pruning and ALLR retraining within T epochs in all."""

    rounds: int = option(3, "Pruning rounds R within the budget.", low=1, high=200)
    rate: float = option(0.2, "Per-round rate p (fraction of the alive weights removed each round).",
                         low=0.0, high=1.0, low_open=True, high_open=True,
                         when={"algorithm.target_sparsity": (None,), **FRACTION})
    target_sparsity: float | None = option(None, "Final sparsity s: p = 1 − (1 − s)^(1/R) replaces rate.",
                                           low=0.0, high=1.0, low_open=True, high_open=True, example=0.9,
                                           when=FRACTION)
    dense_epochs: int = option(2, "T0: dense training epochs within the budget training.epochs.", low=1,
                               label="Dense epochs T0")
    warmup_fraction: float = option(0.1, "ALLR's warm-up as a fraction of each retraining.", low=0.0,
                                    high=1.0, high_open=True)
    d1_over: str = d1_over_option()

    def per_round_rate(self) -> float:
        if self.target_sparsity is not None:
            return 1.0 - (1.0 - self.target_sparsity) ** (1.0 / self.rounds)
        return self.rate

    def plan(self, config) -> Plan:
        T, T0, R = config.training.epochs, self.dense_epochs, self.rounds
        p = self.per_round_rate()
        planned = geometric_sparsity(p, R) if config.pruner.selection.plugin_name == "fraction" else [0.0] + [None] * R
        share = (T - T0) // R
        rounds = [RoundPlan(0, T0, LRPlan(LinearLR(warmup_fraction=0.0), T0, 0))]
        allr, cumulative = AdaptiveLinearLR(warmup_fraction=self.warmup_fraction, d1_over=self.d1_over), 0
        for r in range(1, R + 1):
            epochs = share if r < R else T - T0 - share * (R - 1)
            cumulative += epochs
            rounds.append(RoundPlan(r, epochs, LRPlan(allr, epochs, 0), planned[r], planned[r],
                                    prune=PruneStep.fraction(p), treatment="keep", cumulative=cumulative))
        return Plan(tuple(rounds), rate=p, headline=f"bimp, {T0} dense epochs, then {R} rounds at p = {p:.4f} "
                    f"with ALLR within {T} epochs")

    def check(self, config) -> list[FieldError]:
        T, tr = config.training.epochs, config.training
        errors = []
        if T - self.dense_epochs < self.rounds:
            errors.append(FieldError("algorithm.dense_epochs", self.dense_epochs, f"T0 <= training.epochs - rounds "
                                     f"({T - self.rounds}), so every round retrains >= 1 epoch"))
        why = "BIMP's budgeted schedule (linear from η₁, then ALLR) replaces the training LR schedule"
        if tr.lr_schedule != "constant":
            errors.append(FieldError("training.lr_schedule", tr.lr_schedule, f"constant: {why}"))
        if tr.warmup_epochs != 0.0:
            errors.append(FieldError("training.warmup_epochs", tr.warmup_epochs, f"0: {why}"))
        return errors
