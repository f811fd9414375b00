"""Pruning at initialisation: score the untrained network θ₀, prune once, then train the sparse
network for T epochs on the original schedule (SNIP, Lee et al. 2019, with ``pruner.score =
"snip"``; any score works, e.g. magnitude or random at initialisation as controls).

There is no dense round 0: the untrained network is never reported as a dense baseline. The
single round is round 1; its T epochs are the search cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config.fields import option
from ..lr_policies import Replay
from ..plan import LRPlan, Plan, PruneStep, RoundPlan
from ..registry import ALGORITHMS
from .base import Algorithm
from .retraining import FRACTION


@ALGORITHMS.register("at_init", label="at_init: prune at initialisation (SNIP)")
@dataclass(frozen=True)
class AtInit(Algorithm):
    """Prune the initialisation once (e.g. SNIP), then train the sparse network for T epochs."""

    rate: float = option(0.9, "Fraction of the weights (or units) pruned before training.", low=0.0, high=1.0,
                         low_open=True, high_open=True, when=FRACTION)

    def plan(self, config) -> Plan:
        T = config.training.epochs
        sparsity = self.rate if config.pruner.selection.plugin_name == "fraction" else None
        step = RoundPlan(1, T, LRPlan(Replay(), T, 0), sparsity, sparsity, prune=PruneStep.fraction(self.rate),
                         cumulative=T)
        return Plan((step,), rate=self.rate, headline=f"at_init: prune θ₀ to p = {self.rate:.4f}, then train {T} epochs")
