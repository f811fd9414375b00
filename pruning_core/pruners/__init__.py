"""Pruners: a score per weight (or per channel/filter) plus a rule that turns scores into masks.

Every pruner keeps already-pruned weights pruned (no regrowth) and removes a fraction p of what
is still alive in each *group* of layers ranked together (see :func:`layer_groups`).
:func:`make_pruner` builds the pruner a config asks for; the algorithms call only
``pruner.prune(masks, round_index, rate, generator)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from ..config import Config
from ..masks import Masks, output_layer_name, prunable_parameters
from .unstructured import prune_count, prune_groups, prune_unstructured, score_weights

__all__ = ["LayerGroup", "Pruner", "layer_groups", "make_pruner", "prune_count", "prune_groups",
           "prune_unstructured", "score_weights"]


@dataclass(frozen=True)
class LayerGroup:
    """Layers whose units are ranked together, and the fraction p of their alive units to remove."""

    names: tuple[str, ...]
    rate: float


def layer_kind(param: torch.Tensor) -> str:
    """'conv' for weights with more than 2 dims, 'linear' otherwise."""
    return "conv" if param.dim() > 2 else "linear"


def layer_groups(config: Config, model: nn.Module, rate: float) -> list[LayerGroup]:
    """The groups one pruning step ranks, from ``pruner.layers``, ``scope`` and the per-type rates.

    * Only layers of the selected kind are pruned (``layers``: all, linear = fc-only, conv).
    * The output layer forms its own group when ``output_rate`` is set (0 = left alone).
    * ``local``: one group per layer; ``per_type``: one for the convs, one for the linear layers;
      ``global``: one group for all. ``conv_rate`` / ``dense_rate`` replace p for their kind.
    """
    pc = config.pruner
    params = prunable_parameters(model)
    output = output_layer_name(model)
    kind_rate = {"conv": pc.conv_rate if pc.conv_rate is not None else rate,
                 "linear": pc.dense_rate if pc.dense_rate is not None else rate}
    selected = [n for n, p in params.items() if pc.layers in ("all", layer_kind(p))]
    groups: list[LayerGroup] = []
    if pc.output_rate is not None and output in selected:
        selected.remove(output)
        if pc.output_rate > 0:
            groups.append(LayerGroup((output,), pc.output_rate))
    kinds = {n: layer_kind(params[n]) for n in selected}
    if pc.scope == "local":
        shared = [LayerGroup((n,), kind_rate[kinds[n]]) for n in selected]
    elif pc.scope == "per_type":
        shared = [LayerGroup(tuple(n for n in selected if kinds[n] == k), kind_rate[k])
                  for k in ("conv", "linear") if any(kinds[n] == k for n in selected)]
    else:
        shared = [LayerGroup(tuple(selected), rate)] if selected else []
    return shared + groups


class Pruner(Protocol):
    """What the algorithms call: new masks after removing ``rate`` of the alive units per group."""

    def prune(self, masks: Masks, round_index: int, rate: float, generator: torch.Generator) -> Masks: ...


class UnstructuredPruner:
    """Magnitude (|w|) or random scores per weight, ranked within each layer group."""

    def __init__(self, config: Config, model: nn.Module):
        self.config, self.model = config, model
        self.params = prunable_parameters(model)

    def prune(self, masks: Masks, round_index: int, rate: float, generator: torch.Generator) -> Masks:
        scores = score_weights(self.config.pruner.method, self.params, generator)
        groups = [(g.names, g.rate) for g in layer_groups(self.config, self.model, rate)]
        return prune_groups(scores, masks, groups)


def make_pruner(config: Config, model: nn.Module, data=None) -> Pruner:
    """The pruner of ``config.pruner`` for ``model`` (``data`` feeds activation-based scores)."""
    structure = config.pruner.structure
    if structure == "unstructured":
        return UnstructuredPruner(config, model)
    from .structured import make_structured_pruner  # channels, filters, hybrid, IAP, AIAP
    return make_structured_pruner(config, model, data)
