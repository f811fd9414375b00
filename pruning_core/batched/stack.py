"""N models of one architecture as one functional model with stacked parameters.

:class:`StackedModel` holds the parameters of N copies as tensors with a leading dimension N
(``torch.func.stack_module_state``): one leaf tensor per parameter name, which one optimizer
updates. ``forward`` runs ``torch.func.functional_call`` on a parameter-less ("meta") copy of the
module under ``torch.func.vmap`` over the copies: copy i sees parameters ``params[name][i]`` and
input ``x[i]`` (``x`` of shape [N, B, ...]), or the same input for all copies (evaluation). For
linear and convolution layers vmap turns the N matrix products into one batched product.

Masks are stacked the same way (:func:`stack_masks`, [N, ...] per prunable weight), so the
engine's :class:`~pruning_core.masks.MaskEnforcer` applies them to the stacked weights unchanged.
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from .checks import check_batchable_model, check_same_architecture


class StackedModel:
    """N copies of one architecture as stacked parameters and a vmapped functional forward.

    ``params``: name → leaf tensor [N, ...] (requires grad); give ``parameters()`` to the optimizer.
    The copies' own modules are not touched until :meth:`write_back`.
    """

    def __init__(self, models: Sequence[nn.Module], name: str | None = None):
        models = list(models)
        check_same_architecture(models)
        for m in models:
            check_batchable_model(m, name)
        self.n = len(models)
        params, buffers = stack_module_state(models)
        self.params: dict[str, Tensor] = params
        self.buffers: dict[str, Tensor] = buffers           # empty: buffer models are refused
        self.base = copy.deepcopy(models[0]).to("meta")
        self.device = next(iter(params.values())).device

        def call(p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(self.base, (p, b), (x,))

        self._per_copy_input = vmap(call, in_dims=(0, 0, 0), randomness="error")
        self._shared_input = vmap(call, in_dims=(0, 0, None), randomness="error")

    def parameters(self) -> list[Tensor]:
        """The stacked parameters, in the module's parameter order."""
        return list(self.params.values())

    def train(self, mode: bool = True) -> "StackedModel":
        self.base.train(mode)
        return self

    def eval(self) -> "StackedModel":
        return self.train(False)

    def __call__(self, x: Tensor, shared: bool = False) -> Tensor:
        """Logits [N, B, classes]: copy i on ``x[i]`` (x: [N, B, ...]), or on ``x`` itself for
        every copy when ``shared`` (x: [B, ...])."""
        fn = self._shared_input if shared else self._per_copy_input
        return fn(self.params, self.buffers, x)

    def state(self, i: int) -> dict[str, Tensor]:
        """Copy i's parameters (detached views into the stacked tensors)."""
        return {name: p[i].detach() for name, p in self.params.items()}

    @torch.no_grad()
    def write_back(self, models: Sequence[nn.Module]) -> None:
        """Copy each copy's trained parameters into its module, in place: the modules keep their
        parameter tensors (so an enforcer, pruner or optimizer holding them still sees them)."""
        if len(models) != self.n:
            raise ValueError(f"write_back: {len(models)} models for {self.n} copies")
        for i, model in enumerate(models):
            for name, p in model.named_parameters():
                p.copy_(self.params[name][i])

    @torch.no_grad()
    def load_from(self, models: Sequence[nn.Module]) -> None:
        """Copy the modules' current parameters into the stacked tensors, in place (after a
        treatment such as rewinding changed them), so an optimizer over ``parameters()`` stays valid."""
        if len(models) != self.n:
            raise ValueError(f"load_from: {len(models)} models for {self.n} copies")
        for i, model in enumerate(models):
            for name, p in model.named_parameters():
                self.params[name][i].copy_(p)


def stack_masks(masks: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Per-copy masks (name → bool tensor) → name → bool tensor [N, ...]; all copies must mask
    the same parameter names."""
    masks = list(masks)
    names = list(masks[0])
    for i, m in enumerate(masks[1:], start=1):
        if list(m) != names:
            raise ValueError(f"stack_masks: copy {i} masks {sorted(m)}, copy 0 masks {sorted(names)}")
    return {name: torch.stack([m[name] for m in masks]) for name in names}
