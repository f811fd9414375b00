"""Layer groupings (registered): which layers are ranked together, and the rate p of each group.

A grouping is ``grouping(selected, kinds, kind_rate, rate) -> [LayerGroup]`` over the selected
layers (``kinds``: "conv" or "linear" per layer; ``kind_rate``: the rate of each kind, from
``pruner.conv_rate`` / ``dense_rate`` or the algorithm's p). Pure Python, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import GROUPINGS


@dataclass(frozen=True)
class LayerGroup:
    """Layers whose units are ranked together, and the fraction p of their alive units to remove."""

    names: tuple[str, ...]
    rate: float


@GROUPINGS.register("global")
def global_(selected: list[str], kinds: dict[str, str], kind_rate: dict[str, float], rate: float) -> list[LayerGroup]:
    """One ranking over every pruned layer (the lottery-ticket paper's global pruning)."""
    return [LayerGroup(tuple(selected), rate)] if selected else []


@GROUPINGS.register("local")
def local(selected: list[str], kinds: dict[str, str], kind_rate: dict[str, float], rate: float) -> list[LayerGroup]:
    """Each layer ranked on its own, at its kind's rate."""
    return [LayerGroup((n,), kind_rate[kinds[n]]) for n in selected]


@GROUPINGS.register("per_type")
def per_type(selected: list[str], kinds: dict[str, str], kind_rate: dict[str, float], rate: float) -> list[LayerGroup]:
    """Convs ranked together, linear layers together, each kind at its own rate."""
    return [LayerGroup(tuple(n for n in selected if kinds[n] == k), kind_rate[k])
            for k in ("conv", "linear") if any(kinds[n] == k for n in selected)]


def layer_groups(pruner, kinds: dict[str, str], output: str, rate: float) -> list[LayerGroup]:
    """The groups one pruning step ranks, from ``pruner.layers``, ``grouping`` and the rates.

    * Only layers of the selected kind are pruned (``layers``: all, linear = fc-only, conv).
    * The output layer forms its own group when ``output_rate`` is set (0 = left alone).
    * ``conv_rate`` / ``dense_rate`` replace p for their kind (local and per_type groupings).
    """
    kind_rate = {"conv": pruner.conv_rate if pruner.conv_rate is not None else rate,
                 "linear": pruner.dense_rate if pruner.dense_rate is not None else rate}
    selected = [n for n, kind in kinds.items() if pruner.layers in ("all", kind)]
    own: list[LayerGroup] = []
    if pruner.output_rate is not None and output in selected:
        selected.remove(output)
        if pruner.output_rate > 0:
            own.append(LayerGroup((output,), pruner.output_rate))
    return GROUPINGS.get(pruner.grouping)(selected, kinds, kind_rate, rate) + own
