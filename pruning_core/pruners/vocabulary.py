"""The built-in units and selections by name (torch-free): what the config and the form offer.

Units have no options; their implementations (:mod:`.units`, torch) load when a run prunes.
Selections are plug-in choices with options; each names its implementation in :mod:`.selection`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..config.fields import FieldError, option
from ..registry import SELECTIONS, UNITS
from . import grouping  # noqa: F401  (registers the groupings)

UNITS.declare("weight", "pruning_core.pruners.units:WeightUnit", help="Single weights (unstructured).")
UNITS.declare("input_channel", "pruning_core.pruners.units:InputChannelUnit",
              help="Input channels of convs, input features of linear layers: W[:, c] (Paganini & Forde).")
UNITS.declare("output_filter", "pruning_core.pruners.units:OutputFilterUnit",
              help="Output filters / neurons W[f], with the next layer's matching inputs (ILP, IAP); "
                   "the output layer's classes are never pruned; sequential models only.")
UNITS.declare("hybrid", "pruning_core.pruners.units:HybridUnit",
              help="Convs by input channel, linear layers by weight, each kind ranked on its own (Paganini & Forde).")


@SELECTIONS.register("fraction")
@dataclass(frozen=True)
class Fraction:
    """Remove ⌊p·n_alive + ½⌋ of the alive units of each group, lowest scores first (ties: earlier first)."""

    implementation: ClassVar[str] = "pruning_core.pruners.selection:FractionSelection"
    suggests: ClassVar[dict] = {}


@SELECTIONS.register("threshold")
@dataclass(frozen=True)
class Threshold:
    """AIAP's adaptive threshold: remove every alive unit scoring <= T[r]; T rises by λ when a round removed little."""

    implementation: ClassVar[str] = "pruning_core.pruners.selection:ThresholdSelection"
    suggests: ClassVar[dict] = {}

    step: float = option(0.01, "λ: T[r] = T[r−1] + λ when the previous round removed less than min_change.",
                         low=0.0, low_open=True, label="Step λ")
    start_round: int = option(3, "T[r] = 0 for rounds r <= this.", low=0)
    min_change: float = option(0.01, "T rises when the fraction d of the counted parameters (conv weights, "
                               "else linear) removed in the previous round is below this.", low=0.0, high=1.0)

    def check(self, config) -> list[FieldError]:
        """T[r] = 0 up to round s: with no pruning round after s, λ, s and min_change act on nothing."""
        rounds = max((r.index for r in config.plan().rounds if r.prune is not None), default=0)
        if rounds > self.start_round:
            return []
        defaults = type(self)()
        return [FieldError(f"pruner.selection.{name}", getattr(self, name),
                           f"{getattr(defaults, name)!r} (the default): the threshold stays 0 up to start_round "
                           f"({self.start_round}) and this run prunes in rounds 1..{rounds} only")
                for name in ("step", "start_round", "min_change") if getattr(self, name) != getattr(defaults, name)]
