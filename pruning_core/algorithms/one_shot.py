"""One-shot pruning: train the dense network, prune once, treat the weights, retrain.

The same round as IMP's (:mod:`.imp`, :mod:`.retraining`) with R = 1 and the rate being the final
sparsity: ``rate`` = 0.9 prunes 90 % of the weights (or units) in one step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config.fields import FieldError, option
from ..plan import Plan
from ..registry import ALGORITHMS
from . import retraining
from .base import Algorithm
from .imp import dense_round
from .retraining import FRACTION


@ALGORITHMS.register("one_shot", label="one_shot: one round")
@dataclass(frozen=True)
class OneShot(Algorithm):
    """Train, prune once to the given sparsity, treat the weights, retrain."""

    rate: float = option(0.8, "Fraction p of the weights (or units) pruned in the single round.",
                         low=0.0, high=1.0, low_open=True, high_open=True, when=FRACTION)
    rewind_epoch: int = retraining.rewind_epoch_option()
    treatment: str = retraining.treatment_option()
    lr_policy: Any = retraining.lr_policy_option()
    retrain_epochs: int | None = retraining.retrain_epochs_option()

    def plan(self, config) -> Plan:
        T, k = config.training.epochs, self.rewind_epoch
        epochs, start = retraining.retrain_length(self, T)
        sparsity = self.rate if config.pruner.selection.plugin_name == "fraction" else None
        rounds = (dense_round(T, k), retraining.retraining_round(self, 1, self.rate, sparsity, epochs, start, epochs))
        return Plan(rounds, rate=self.rate, headline=f"one_shot to p = {self.rate:.4f}, treatment {self.treatment}, "
                    f"LR {self.lr_policy.plugin_name} (k = {k})")

    def check(self, config) -> list[FieldError]:
        return retraining.check_retraining(self, config)
