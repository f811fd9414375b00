"""Structured pruning: whole input channels (Paganini & Forde) or whole output filters (ILP).

Masks stay per-weight bool tensors over conv/linear weights; a pruned *unit* is a whole slice of
False. Two axes:

* **Input axis** (``structure="channels"``; Paganini & Forde's L1/L2/L∞/random structured): a
  unit is input channel c of a conv, ``W[:, c]`` (out × k × k weights), or input feature j of a
  linear layer, ``W[:, j]``. ``hybrid`` prunes convs this way and linear layers unstructured (|w|).
* **Output axis** (``structure="filters"``; ILP = L1 filter pruning of Li et al., and IAP/AIAP in
  :mod:`.activation`): a unit is filter f of a conv, ``W[f]``, or neuron j of a linear layer,
  ``W[j]``. Removing it also masks the matching input of the *next* prunable layer in module
  order: ``W'[:, f]`` for a conv or linear successor, and the H·W consecutive input features
  ``W'[:, f·H·W : (f+1)·H·W]`` of a linear layer fed through flatten. The output layer's neurons
  (the classes) are never pruned. A batch norm after a removed filter still outputs its shift β (and
  a conv/linear its bias) as a constant; masking the next layer's input channel removes its effect,
  so the masked network computes exactly what the compacted one (:mod:`pruning_core.compaction`)
  does. Only sequential models are supported; ResNets raise a ValueError (skip connections tie
  channels across blocks).

Rules shared with :mod:`.unstructured`: a unit is *alive* if any of its weights is; a group (from
:func:`~pruning_core.pruners.layer_groups`) removes ``prune_count(p, alive units)`` =
⌊p·n_alive + ½⌋ of its alive units with the lowest scores; already-dead units are not counted and
never regrow; ties go to the earlier layer, then the lower unit index (stable sort).

**Scores.** ``magnitude``: the Ln norm of the (masked) slice divided by N^(1/n), N = the slice's
size: mean |w| for L1, root-mean-square for L2, max |w| for L∞ (the issue's definition; the paper
writes L_{−∞}, which in ``torch.norm`` would be the *minimum* magnitude). Within one layer N is
constant, so the ranking equals the raw norm's (Paganini's ``ln_structured``, Li et al.'s L1); the
division only matters for ``global``/``per_type`` scopes, where it compares per-weight magnitudes of
slices of different sizes instead of favouring the layers with the smallest slices. ``random``: one
U(0, 1) draw per unit of every prunable layer, in module order, from the round's generator.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import Config
from ..masks import Masks, output_layer_name, prunable_parameters
from . import layer_groups, layer_kind
from .unstructured import prune_groups, score_weights

__all__ = ["ChannelPruner", "FilterPruner", "filter_links", "ln_scores", "make_structured_pruner",
           "propagate_dead_filters", "unit_alive", "units_to_mask", "unit_view"]

IN, OUT = "in", "out"


# --------------------------------------------------------------------------------------------
# Unit views of a weight (or mask) tensor
# --------------------------------------------------------------------------------------------

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


def ln_scores(weight: torch.Tensor, mask: torch.Tensor, axis: str, norm: str) -> torch.Tensor:
    """Per-unit ‖slice‖_n / N^(1/n) of the masked weights (float64): mean |w|, RMS or max |w|."""
    v = unit_view((weight.detach() * mask).abs().double(), axis)
    n = v.shape[1]
    if norm == "l1":
        return v.sum(dim=1) / n
    if norm == "l2":
        return v.pow(2).sum(dim=1).sqrt() / math.sqrt(n)
    if norm == "linf":
        return v.amax(dim=1)
    raise ValueError(f"pruner.norm: got {norm!r}; allowed: l1, l2, linf")


def random_scores(params: dict[str, torch.Tensor], axis: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """One U(0, 1) per unit of every layer, drawn in module order from ``generator`` (on CPU)."""
    return {n: torch.rand(p.shape[0] if axis == OUT else p.shape[1], generator=generator, dtype=torch.float64)
            for n, p in params.items()}


def prune_units(scores: dict[str, torch.Tensor], masks: Masks, groups: list[tuple[tuple[str, ...], float]],
                axis: str) -> Masks:
    """Remove ⌊p·n_alive + ½⌋ alive units per group by lowest score (ties: earlier first)."""
    alive = {n: unit_alive(masks[n], axis) for g, _ in groups for n in g}
    kept = prune_groups({n: scores[n].to(alive[n].device) for n in alive}, alive, groups)
    new = dict(masks)
    for n in alive:
        new[n] = masks[n] & units_to_mask(kept[n], masks[n].shape, axis)
    return new


# --------------------------------------------------------------------------------------------
# Output axis: which input slice of the next layer a filter feeds
# --------------------------------------------------------------------------------------------

def _supported_models() -> str:
    from ..models import MODELS
    return ", ".join(n for n, s in MODELS.items() if s.family != "resnet")


def _check_sequential(config: Config, model: nn.Module) -> None:
    from ..models import MODELS, BasicBlock, CifarResNet
    from torchvision.models.resnet import ResNet
    spec = MODELS.get(config.model.name)
    resnet = any(isinstance(m, (BasicBlock, CifarResNet, ResNet)) for m in model.modules())
    if resnet or (spec is not None and spec.family == "resnet"):
        raise ValueError(
            f"pruner.structure: {config.pruner.structure!r} (output-axis filter pruning, ILP/IAP/AIAP) "
            f"supports sequential models only: {_supported_models()}. Removing a filter of "
            f"{config.model.name!r} would also have to remove the matching channel on its skip "
            "connections; use structure 'channels', 'hybrid' or 'unstructured' for ResNets.")


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
                raise ValueError(f"pruner.structure: {b} has {n_in} input features, not a multiple of "
                                 f"the {n_out} filters of {a}; filter pruning needs a sequential model")
            links[a] = (b, n_in // n_out)
        elif n_in == n_out and not (wa.dim() == 2 and wb.dim() > 2):
            links[a] = (b, 1)
        else:
            raise ValueError(f"pruner.structure: {a} ({n_out} outputs) does not feed {b} ({n_in} "
                             f"inputs) directly; filter pruning needs a sequential model: {_supported_models()}")
    return links


def propagate_dead_filters(masks: Masks, links: dict[str, tuple[str, int]]) -> Masks:
    """Mask the next layer's input slice of every dead filter/neuron (returns new masks)."""
    new = dict(masks)
    for name, (nxt, per_unit) in links.items():
        alive = unit_alive(new[name], OUT)
        if not bool(alive.all()):
            new[nxt] = new[nxt] & units_to_mask(alive, new[nxt].shape, IN, per_unit)
    return new


# --------------------------------------------------------------------------------------------
# Pruners
# --------------------------------------------------------------------------------------------

class _StructuredBase:
    def __init__(self, config: Config, model: nn.Module):
        self.config, self.model = config, model
        self.params = prunable_parameters(model)
        self.pc = config.pruner

    def groups(self, rate: float) -> list[tuple[tuple[str, ...], float]]:
        return [(g.names, g.rate) for g in layer_groups(self.config, self.model, rate) if g.names]


class ChannelPruner(_StructuredBase):
    """Input-axis Ln (l1/l2/linf) or random structured pruning; ``hybrid``: convs by input channel
    (Ln or random), linear layers unstructured (|w| or random), each kind ranked on its own."""

    def prune(self, masks: Masks, round_index: int, rate: float, generator: torch.Generator) -> Masks:
        groups = self.groups(rate)
        hybrid = self.pc.structure == "hybrid"
        if self.pc.method == "random":
            scores = random_scores(self.params, IN, generator)
        else:
            scores = {n: ln_scores(p, masks[n], IN, self.pc.norm) for n, p in self.params.items()}
        channel_groups, weight_groups = [], []
        for names, r in groups:
            convs = tuple(n for n in names if layer_kind(self.params[n]) == "conv")
            linears = tuple(n for n in names if n not in convs)
            if hybrid:
                channel_groups += [(convs, r)] if convs else []
                weight_groups += [(linears, r)] if linears else []
            else:
                channel_groups.append((names, r))
        new = prune_units(scores, masks, channel_groups, IN)
        if weight_groups:
            weight_scores = score_weights(self.pc.method, self.params, generator)
            new = prune_groups(weight_scores, new, weight_groups)
        return new


class FilterPruner(_StructuredBase):
    """Output-axis filter/neuron pruning by Ln norm (ILP = l1) or random scores.

    The output layer is taken out of every group (its neurons are the classes, never pruned;
    ``pruner.output_rate`` does not apply); after pruning, the dead filters' input slices of the
    next layer are masked (:func:`propagate_dead_filters`).
    """

    def __init__(self, config: Config, model: nn.Module):
        super().__init__(config, model)
        _check_sequential(config, model)
        self.links = filter_links(model)
        self.output = output_layer_name(model)

    def groups(self, rate: float) -> list[tuple[tuple[str, ...], float]]:
        out = []
        for names, r in super().groups(rate):
            names = tuple(n for n in names if n != self.output)
            if names:
                out.append((names, r))
        return out

    def unit_scores(self, masks: Masks, names: list[str], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Score per filter of each layer in ``names`` (lower = pruned first)."""
        if self.pc.method == "random":
            return random_scores(self.params, OUT, generator)
        return {n: ln_scores(self.params[n], masks[n], OUT, self.pc.norm) for n in names}

    def prune(self, masks: Masks, round_index: int, rate: float, generator: torch.Generator) -> Masks:
        groups = self.groups(rate)
        names = [n for g, _ in groups for n in g]
        new = prune_units(self.unit_scores(masks, names, generator), masks, groups, OUT)
        return propagate_dead_filters(new, self.links)


def make_structured_pruner(config: Config, model: nn.Module, data=None):
    """The pruner for ``structure`` in channels / filters / hybrid (``data`` feeds IAP and AIAP)."""
    pc = config.pruner
    if pc.structure in ("channels", "hybrid"):
        if pc.method not in ("magnitude", "random"):
            raise ValueError(f"pruner.method: {pc.method!r} with structure {pc.structure!r}; allowed: "
                             "magnitude, random (activation-based pruning removes filters)")
        return ChannelPruner(config, model)
    if pc.structure != "filters":
        raise ValueError(f"pruner.structure: got {pc.structure!r}; allowed: channels, filters, hybrid")
    if pc.method in ("magnitude", "random"):
        return FilterPruner(config, model)
    from .activation import AIAPPruner, IAPPruner
    if data is None:
        raise ValueError(f"pruner.method: {pc.method!r} scores filters by activations and needs the "
                         "training data (make_pruner(config, model, data))")
    return (IAPPruner if pc.method == "activation" else AIAPPruner)(config, model, data)
