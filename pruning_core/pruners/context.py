"""What a score may read (torch): the :class:`ScoreContext` of one pruning step.

A score is ``score(ctx) -> {layer: scores}``. Through the context it gets the network's weights
and masks, the unit being ranked, the layers being ranked, and helpers that do the torch work:
one training batch, uniform draws, per-unit norms, activations, gradients. All randomness comes
from the round's generator (seeded by seed and round), so a resumed run scores exactly as an
uninterrupted one.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..masks import Masks
from . import activation


class ScoreContext:
    """One pruning step as a score sees it.

    * ``unit``: "weight", "input_channel" or "output_filter" — the scores are one per such unit;
    * ``weights``: every prunable weight (conv/linear), in module order; ``masks``: their masks;
    * ``layers``: the layers being ranked (a score must return scores for at least these);
    * ``model``, ``data`` (the device-resident dataset), ``generator`` (the round's, on the CPU);
    * ``initial``: the full state at initialisation θ₀ (read on first use).
    """

    def __init__(self, model: nn.Module, unit, weights: dict[str, nn.Parameter], masks: Masks,
                 layers: list[str], generator: torch.Generator, data=None,
                 initial: Callable[[], dict[str, torch.Tensor]] | None = None):
        self.model, self._unit, self.weights, self.masks = model, unit, weights, masks
        self.unit: str = unit.name
        self.layers, self.generator, self.data = layers, generator, data
        self._initial = initial

    @property
    def initial(self) -> dict[str, torch.Tensor]:
        """θ₀: the model's state at initialisation (weights by the same names as ``weights``)."""
        if self._initial is None:
            raise ValueError("pruner.score: this score reads the initial weights, which this pruner was not given")
        return self._initial()

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n training images and labels, drawn with the round's generator, normalised, on the device."""
        if self.data is None:
            raise ValueError("pruner.score: this score needs training data, and the pruner was built without it")
        return self.data.sample_train_batch(n, self.generator)

    def uniform(self) -> dict[str, torch.Tensor]:
        """One U(0, 1) per unit of every prunable layer, drawn in module order from the round's
        generator (per weight: float32 on the weights' device; per channel or filter: float64)."""
        if self.unit == "weight":
            return {n: torch.rand(p.shape, generator=self.generator).to(p.device) for n, p in self.weights.items()}
        return {n: torch.rand(self._unit.count(p), generator=self.generator, dtype=torch.float64)
                for n, p in self.weights.items()}

    def per_unit(self, values: dict[str, torch.Tensor], norm: str = "l1") -> dict[str, torch.Tensor]:
        """Per-unit ‖slice‖_n / N^(1/n) of non-negative per-weight values (float64): the mean for
        l1, the root-mean-square for l2, the maximum for linf. Per weight: the values unchanged."""
        if self.unit == "weight":
            return values
        out = {}
        for name, value in values.items():
            v = self._view(value.double())
            n = v.shape[1]
            if norm == "l1":
                out[name] = v.sum(dim=1) / n
            elif norm == "l2":
                out[name] = v.pow(2).sum(dim=1).sqrt() / math.sqrt(n)
            elif norm == "linf":
                out[name] = v.amax(dim=1)
            else:
                raise ValueError(f"pruner.score.norm: got {norm!r}; allowed: l1, l2, linf")
        return out

    def _view(self, t: torch.Tensor) -> torch.Tensor:
        from .units import unit_view
        return unit_view(t, self._unit.axis)

    def mean_activations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean post-ReLU activation per filter/neuron of each ranked layer on ``x`` (masks applied)."""
        return activation.mean_activations(self.model, self.masks, self.layers, x)

    def activations_and_gradients(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """(a, ∂L/∂a) of each ranked layer's post-ReLU output on (x, y), L the mean cross-entropy."""
        return activation.activations_and_gradients(self.model, self.masks, self.layers, x, y)

    def gradients(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """∂L/∂w of every prunable weight on (x, y) with the masks applied, L the mean cross-entropy."""
        return activation.weight_gradients(self.model, self.masks, x, y)

    def per_filter_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Σ over every axis but the channel axis 1 (batch, positions) of an activation-shaped tensor."""
        return values.transpose(0, 1).reshape(values.shape[1], -1).sum(dim=1)
