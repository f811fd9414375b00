"""Units of structured and unstructured pruning (torch): views of a weight or mask tensor as
(units, slice), and what removing a unit does to the rest of the network.

Masks stay per-weight bool tensors; a pruned unit is a whole slice of False. A unit is *alive*
if any weight of its slice is.

* ``weight``: each weight is a unit.
* ``input_channel`` (Paganini & Forde): input channel c of a conv, ``W[:, c]`` (out × k × k
  weights), or input feature j of a linear layer, ``W[:, j]``.
* ``output_filter`` (ILP, IAP, AIAP): filter f of a conv, ``W[f]``, or neuron j of a linear
  layer, ``W[j]``. Removing it also masks the matching input of the *next* prunable layer in
  module order: ``W'[:, f]`` for a conv or linear successor, and the H·W consecutive input features
  ``W'[:, f·H·W : (f+1)·H·W]`` of a linear layer fed through flatten. The output layer's neurons
  (the classes) are never pruned. A batch norm after a removed filter still outputs its shift β (and
  a conv/linear its bias) as a constant; masking the next layer's input channel removes its effect,
  so the masked network computes exactly what the compacted one (:mod:`pruning_core.compaction`)
  does. Only sequential models are supported (skip connections tie channels across blocks).
* ``hybrid``: convs by input channel, linear layers by weight, each kind ranked on its own.
"""

from __future__ import annotations

import torch
from torch import nn

from ..catalog import SKIP_CONNECTIONS
from ..masks import Masks, output_layer_name, prunable_parameters
from ..registry import MODELS

IN, OUT = "in", "out"
Groups = list[tuple[tuple[str, ...], float]]


def layer_kind(param: torch.Tensor) -> str:
    """'conv' for weights with more than 2 dims, 'linear' otherwise."""
    return "conv" if param.dim() > 2 else "linear"


def unit_view(t: torch.Tensor, axis: str, per_unit: int = 1) -> torch.Tensor:
    """``t`` as (units, slice): rows = output filters (``OUT``) or input channels (``IN``).

    ``per_unit`` > 1 groups that many consecutive input features of a linear layer into one
    unit (the H·W features one conv filter feeds through flatten).
    """
    if axis == OUT:
        return t.reshape(t.shape[0], -1)
    if t.dim() == 2 and per_unit > 1:
        out = t.shape[0]
        return t.reshape(out, -1, per_unit).transpose(0, 1).reshape(-1, out * per_unit)
    return t.transpose(0, 1).reshape(t.shape[1], -1)


def unit_alive(mask: torch.Tensor, axis: str, per_unit: int = 1) -> torch.Tensor:
    """Bool per unit: True if any weight of the slice is alive."""
    return unit_view(mask, axis, per_unit).any(dim=1)


def units_to_mask(keep: torch.Tensor, shape: torch.Size, axis: str, per_unit: int = 1) -> torch.Tensor:
    """A per-weight bool tensor of ``shape`` that is False on the slices of dropped units."""
    if axis == OUT:
        return keep.view(-1, *([1] * (len(shape) - 1))).expand(shape)
    if per_unit > 1:
        keep = keep.repeat_interleave(per_unit)
    return keep.view(1, -1, *([1] * (len(shape) - 2))).expand(shape)


def _sequential_models() -> str:
    return ", ".join(n for n in MODELS.names() if n not in SKIP_CONNECTIONS)


def filter_links(model: nn.Module) -> dict[str, tuple[str, int]]:
    """For each prunable layer but the last: (next prunable layer's weight name, inputs per filter).

    Inputs per filter is 1 for conv→conv and linear→linear, and H·W = in_features / channels for
    conv → flatten → linear. Raises ValueError when the shapes do not chain (not a sequential model).
    """
    params = prunable_parameters(model)
    names = list(params)
    links = {}
    for a, b in zip(names, names[1:]):
        wa, wb = params[a], params[b]
        n_out, n_in = wa.shape[0], wb.shape[1]
        if wa.dim() > 2 and wb.dim() == 2:
            if n_in % n_out:
                raise ValueError(f"pruner.unit: {b} has {n_in} input features, not a multiple of "
                                 f"the {n_out} filters of {a}; filter pruning needs a sequential model")
            links[a] = (b, n_in // n_out)
        elif n_in == n_out and not (wa.dim() == 2 and wb.dim() > 2):
            links[a] = (b, 1)
        else:
            raise ValueError(f"pruner.unit: {a} ({n_out} outputs) does not feed {b} ({n_in} "
                             f"inputs) directly; filter pruning needs a sequential model: {_sequential_models()}")
    return links


def propagate_dead_filters(masks: Masks, links: dict[str, tuple[str, int]]) -> Masks:
    """Mask the next layer's input slice of every dead filter/neuron (returns new masks)."""
    new = dict(masks)
    for name, (nxt, per_unit) in links.items():
        alive = unit_alive(new[name], OUT)
        if not bool(alive.all()):
            new[nxt] = new[nxt] & units_to_mask(alive, new[nxt].shape, IN, per_unit)
    return new


class Unit:
    """What is removed. ``parts(groups)``: the (unit, groups) pairs scored and selected one after
    the other (hybrid has two); ``alive``/``expand``: mask ↔ per-unit bools; ``finish``: what
    removing units does to other layers."""

    name = "unit"
    axis: str | None = None

    def __init__(self, model: nn.Module, config=None):
        self.model = model

    def prepare(self, groups: Groups) -> Groups:
        """The groups this unit ranks (layers it cannot prune removed, empty groups dropped)."""
        return [(names, rate) for names, rate in groups if names]

    def parts(self, groups: Groups) -> list[tuple["Unit", Groups]]:
        return [(self, self.prepare(groups))]

    def alive(self, mask: torch.Tensor) -> torch.Tensor:
        return unit_alive(mask, self.axis)

    def expand(self, keep: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        return units_to_mask(keep, shape, self.axis)

    def count(self, weight: torch.Tensor) -> int:
        """Units of a layer."""
        return weight.shape[0] if self.axis == OUT else weight.shape[1]

    def finish(self, masks: Masks) -> Masks:
        return masks


class WeightUnit(Unit):
    name = "weight"

    def alive(self, mask: torch.Tensor) -> torch.Tensor:
        return mask

    def expand(self, keep: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        return keep


class InputChannelUnit(Unit):
    name, axis = "input_channel", IN


class OutputFilterUnit(Unit):
    name, axis = "output_filter", OUT

    def __init__(self, model: nn.Module, config=None):
        super().__init__(model, config)
        name = config.model.name if config is not None else type(model).__name__
        if name in SKIP_CONNECTIONS:
            raise ValueError(
                f"pruner.unit: 'output_filter' (filter pruning: ILP, IAP, AIAP) supports sequential models "
                f"only: {_sequential_models()}. Removing a filter of {name!r} would also have to remove the "
                "matching channel on its skip connections; use unit 'input_channel', 'hybrid' or 'weight'.")
        self.links = filter_links(model)
        self.output = output_layer_name(model)

    def prepare(self, groups: Groups) -> Groups:
        """The output layer (the classes) is never pruned."""
        return super().prepare([(tuple(n for n in names if n != self.output), rate) for names, rate in groups])

    def finish(self, masks: Masks) -> Masks:
        return propagate_dead_filters(masks, self.links)


class HybridUnit(Unit):
    name = "hybrid"

    def __init__(self, model: nn.Module, config=None):
        super().__init__(model, config)
        self.kinds = {n: layer_kind(p) for n, p in prunable_parameters(model).items()}
        self.channels, self.weights = InputChannelUnit(model, config), WeightUnit(model, config)

    def parts(self, groups: Groups) -> list[tuple[Unit, Groups]]:
        """Convs by input channel, then linear layers by weight; each part is scored even when it
        has no group, so random draws come in the same order on every model."""
        convs = [(tuple(n for n in names if self.kinds[n] == "conv"), rate) for names, rate in groups]
        linears = [(tuple(n for n in names if self.kinds[n] == "linear"), rate) for names, rate in groups]
        return [(self.channels, self.channels.prepare(convs)), (self.weights, self.weights.prepare(linears))]
