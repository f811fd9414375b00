"""A pruner for a config: score × unit × grouping × selection, composed (torch).

One pruning step: the groups (:mod:`.grouping`) at the step's rate, restricted to what the unit
can prune; for each part of the unit (hybrid has two), the score ranks the part's layers
(:class:`~.context.ScoreContext`) and the selection turns the scores into masks; finally the unit
propagates what it removed (a dead filter removes the next layer's matching inputs). Pruned
units never regrow.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..masks import Masks, output_layer_name, prunable_parameters
from ..registry import UNITS, load_object
from .context import ScoreContext
from .grouping import layer_groups
from .units import layer_kind


class Pruner:
    """The pruner of ``config.pruner`` for ``model`` (``data`` feeds scores that read batches;
    ``initial()``, if set, gives θ₀ to scores that read it)."""

    def __init__(self, config, model: nn.Module, data=None, initial: Callable[[], dict] | None = None):
        pc = config.pruner
        self.config, self.model, self.data, self.initial = config, model, data, initial
        self.params = prunable_parameters(model)
        self.kinds = {n: layer_kind(p) for n, p in self.params.items()}
        self.output = output_layer_name(model)
        self.unit = UNITS.get(pc.unit)(model, config)
        self.score = pc.score
        self.selected = [n for names, _ in self.groups(0.0) for n in names]
        if not self.selected:
            raise ValueError(f"pruner.layers: {pc.layers!r} with unit {pc.unit!r} selects no layer of "
                             f"{config.model.name} to prune")
        self.selection = load_object(pc.selection.implementation)(pc.selection, self)

    def parts(self, rate: float) -> list:
        """(unit, [(layer names, rate)]) of one step at per-round rate p: the layer groups of the
        config's grouping, split as the unit prunes them (hybrid: convs, then linear layers)."""
        groups = [(g.names, g.rate) for g in layer_groups(self.config.pruner, self.kinds, self.output, rate)]
        return self.unit.parts(groups)

    def groups(self, rate: float) -> list[tuple[tuple[str, ...], float]]:
        """(layer names, rate) ranked together at per-round rate p, as this unit prunes them."""
        return [group for _, part in self.parts(rate) for group in part]

    def target_layers(self) -> list[str]:
        """The layers a ``to_sparsity`` step prunes (those whose group rate is not 0)."""
        return [n for names, rate in self.groups(1.0) if rate > 0 for n in names]

    def prune(self, masks: Masks, step, round_index: int, generator: torch.Generator) -> Masks:
        """New masks after one pruning step (``step``: a :class:`~pruning_core.plan.PruneStep`)."""
        self.selection.begin(masks, round_index)
        new = masks
        for unit, part in self.parts(step.value if step.kind == "fraction" else 1.0):
            layers = [n for names, _ in part for n in names]
            ctx = ScoreContext(self.model, unit, self.params, new, layers, generator, self.data, self.initial)
            scores = self.score(ctx)
            new = self.selection.select(scores, new, part, unit, step, round_index)
        return self.unit.finish(new)

    def state_dict(self) -> dict:
        return self.selection.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.selection.load_state_dict(state)


def make_pruner(config, model: nn.Module, data=None, initial: Callable[[], dict] | None = None) -> Pruner:
    """The pruner a config asks for."""
    return Pruner(config, model, data, initial)
