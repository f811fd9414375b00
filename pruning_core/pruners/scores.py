"""Pruning scores (registered): a score is a function of a :class:`~.context.ScoreContext`.

``score(ctx) -> {layer: scores}`` gives, for each layer it is asked about, one score per unit of
``ctx.unit`` (per weight, per input channel or per output filter); lower scores are pruned
first. The context supplies what a score may need — the weights and masks, one batch of training
data, activations, gradients, uniform draws from the round's generator — so a score is a few
lines and imports no torch (see ``pruning_core/plugins/`` and the README's example).

A score class declares ``units`` (the units it can score; None = all), ``comparable_across_layers``
(False: only local grouping makes sense with a fraction selection) and ``suggests`` (values other
fields take when a config choosing it does not give them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..config.fields import FieldError, Not, option
from ..registry import SCORES


class Score:
    """Base of a score; its options are the dataclass fields of the subclass."""

    units: ClassVar[tuple[str, ...] | None] = None
    comparable_across_layers: ClassVar[bool] = True
    suggests: ClassVar[dict] = {}

    def __call__(self, ctx) -> dict:
        raise NotImplementedError

    def check(self, config) -> list[FieldError]:
        """The unit must be one this score can rank; an incomparable score must rank each layer alone."""
        pr, errors = config.pruner, []
        if self.units is not None and pr.unit not in self.units:
            errors.append(FieldError("pruner.unit", pr.unit, f"{' or '.join(self.units)} for the "
                                     f"{self.plugin_name} score"))
        if not self.comparable_across_layers and pr.selection.plugin_name == "fraction" and pr.grouping != "local":
            errors.append(FieldError("pruner.grouping", pr.grouping, f"local: {self.plugin_name} scores of different "
                                     "layers are not comparable, so each layer is ranked on its own"))
        return errors


@SCORES.register("magnitude")
@dataclass(frozen=True)
class Magnitude(Score):
    """|w|; for a channel or filter the Ln norm of its slice divided by N^(1/n) (mean |w|, RMS, max |w|)."""

    norm: str = option("l1", "Norm that scores a channel or filter (linf = the largest magnitude in the "
                       "slice). Divided by N^(1/n), N the slice's size, so slices of different layers compare "
                       "per weight.", choices=("l1", "l2", "linf"), when={"pruner.unit": Not(("weight",))})

    def __call__(self, ctx) -> dict:
        if ctx.unit == "weight":
            return {n: w.detach().abs().float() for n, w in ctx.weights.items()}
        return ctx.per_unit({n: (ctx.weights[n].detach() * ctx.masks[n]).abs() for n in ctx.layers}, self.norm)


@SCORES.register("random")
@dataclass(frozen=True)
class Random(Score):
    """U(0, 1) per unit, drawn from the round's generator (the control every paper compares against)."""

    def __call__(self, ctx) -> dict:
        return ctx.uniform()


@SCORES.register("activation", label="activation (IAP, AIAP)")
@dataclass(frozen=True)
class Activation(Score):
    """Mean post-ReLU activation of each filter / neuron over one training batch (IAP; AIAP with a threshold)."""

    units: ClassVar[tuple[str, ...]] = ("output_filter",)
    comparable_across_layers: ClassVar[bool] = False
    suggests: ClassVar[dict] = {"pruner.unit": "output_filter", "pruner.grouping": "local"}

    batch: int = option(60, "Training images whose activations score the filters (IAP used one batch of "
                        "60 for LeNets).", low=1)

    def __call__(self, ctx) -> dict:
        x, _ = ctx.batch(self.batch)
        return ctx.mean_activations(x)
