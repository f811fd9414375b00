"""Gradual pruning in one run of training, on a registered sparsity schedule
(:mod:`pruning_core.schedules`: Zhu & Gupta's cubic ``polynomial``, ASNI's ``sigmoid``, or a
plug-in).

One run of E = ``training.epochs`` epochs on the original LR schedule, with one optimizer
throughout (pruned weights are re-zeroed after every step). After epoch e = 1 … E the global
sparsity is raised to the schedule's s_e: of the N weights of each pruned group, ⌊s_e·N + ½⌋
are pruned in total, the new ones chosen among the alive weights by lowest score (ties: earlier
layer, then lower index), so the count is exact and nothing regrows. (ASNI's threshold "τ_g =
p-th percentile of |θ|" over all gathered weights is the same rule, since pruned weights are zero
and rank first.)

Each epoch is one round: round e reports the accuracy of the network *after* that epoch's
pruning (re-evaluated whenever the epoch pruned something; the epoch's own evaluation, before
pruning, is ``test_accuracy_before_pruning``) and ``cumulative_epochs`` e. There is no round 0: an
untrained round 0 would pose as the dense baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..config.fields import FieldError, choice
from ..lr_policies import Replay
from ..plan import LRPlan, Plan, PruneStep, RoundPlan
from ..registry import ALGORITHMS, SCHEDULES
from .base import Algorithm

RATE_FIELDS = ("output_rate", "conv_rate", "dense_rate")


@ALGORITHMS.register("gradual", label="gradual: sparsity raised every epoch (Zhu & Gupta)")
@dataclass(frozen=True)
class Gradual(Algorithm):
    """One training run that raises the global sparsity after every epoch along a sparsity schedule."""

    uses_pruner_rates: ClassVar[bool] = False
    variant: ClassVar[str] = "gradual"

    schedule: Any = choice(SCHEDULES, "polynomial", "The sparsity after each epoch.")

    def plan(self, config) -> Plan:
        E = config.training.epochs
        planned = self.schedule.sparsities(E)
        before = [0.0] + list(planned[:-1])
        rounds = tuple(RoundPlan(e, 1, LRPlan(Replay(), 1, e - 1), before[e - 1], planned[e - 1],
                                 prune=PruneStep.to_sparsity(planned[e - 1]), prune_after=True, optimizer="shared",
                                 cumulative=e, variant=self.variant)
                       for e in range(1, E + 1))
        return Plan(rounds, epoch_rounds=True, headline=f"{self.plugin_name} ({self.schedule.plugin_name}) to "
                    f"sparsity {planned[-1]:.4f} over {E} epochs")

    def check(self, config) -> list[FieldError]:
        pr = config.pruner
        errors = []
        if pr.unit != "weight":
            errors.append(FieldError("pruner.unit", pr.unit, f"weight: {self.plugin_name} prunes single weights "
                                     "to each epoch's sparsity"))
        if pr.selection.plugin_name != "fraction":
            errors.append(FieldError("pruner.selection.name", pr.selection.plugin_name,
                                     f"fraction: {self.plugin_name} prunes to the schedule's sparsity"))
        for name in RATE_FIELDS:
            if getattr(pr, name) not in (None, 0, 0.0):
                errors.append(FieldError(f"pruner.{name}", getattr(pr, name), f"null or 0 for {self.plugin_name}: "
                                         "a per-round rate means nothing on a sparsity schedule"))
        return errors

    def run_round(self, run, step: RoundPlan) -> None:
        """Train one epoch, prune to s_e, re-evaluate the pruned network, record the round."""
        stats = run.train(step)[-1]
        before = stats.test_accuracy
        pruned = run.prune(step)
        if pruned:
            stats = run.reevaluate(stats)
        if step.index == run.config.training.epochs:         # the last epoch: ASNI-I's result
            run.memo.setdefault("results", {})[self.variant] = stats.test_accuracy
        run.finish_round(step, [stats], variant=self.variant, planned_sparsity=step.sparsity,
                         pruned_group_sparsity=run.pruned_group_sparsity(),
                         test_accuracy_before_pruning=before, pruned_this_epoch=pruned)

