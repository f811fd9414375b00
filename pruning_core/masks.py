"""Pruning masks: one boolean tensor per prunable weight, applied without hooks.

A :data:`Masks` maps a parameter name (as in ``model.named_parameters()``) to a bool tensor of
the same shape: True = the weight survives, False = pruned. Prunable tensors are the weights of
convolution and linear layers; biases and batch-norm parameters are never pruned.

Masks are enforced by multiplying them into the weights (and gradients) with one ``foreach``
kernel per step (:class:`MaskEnforcer`), instead of ``torch.nn.utils.prune``'s forward hooks and
its three copies of every weight. On disk they are bit-packed (1 bit per weight, numpy
``packbits``) in an ``.npz`` that numpy alone reads back (:mod:`.maskfile`, written through
:mod:`.rundir`), so the app can draw them without torch.
"""

from __future__ import annotations

import pathlib

import torch
from torch import nn

from .maskfile import load_masks_numpy

Masks = dict[str, torch.Tensor]

PRUNABLE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def prunable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weights of every conv/linear layer, in module order, keyed by parameter name."""
    return {f"{name}.weight" if name else "weight": module.weight
            for name, module in model.named_modules() if isinstance(module, PRUNABLE_LAYERS)}


def output_layer_name(model: nn.Module) -> str:
    """Name of the output layer's weight: the last nn.Linear in module order."""
    names = [f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError("model has no nn.Linear output layer")
    return names[-1]


def full_masks(params: dict[str, torch.Tensor]) -> Masks:
    """All-True masks (the dense network)."""
    return {name: torch.ones_like(p, dtype=torch.bool) for name, p in params.items()}


def count_alive(masks: Masks) -> tuple[int, int]:
    """(surviving weights, total prunable weights)."""
    alive = sum(int(m.sum()) for m in masks.values())
    return alive, sum(m.numel() for m in masks.values())


def layer_sparsity(masks: Masks) -> dict[str, float]:
    """Per-layer sparsity: pruned / total weights of each layer."""
    return {name: 1.0 - float(m.sum()) / m.numel() for name, m in masks.items()}


class MaskEnforcer:
    """Keeps pruned weights at exactly zero during training, with foreach kernels and no hooks.

    ``mask_weights()`` runs after every optimizer step, so no optimizer (momentum, weight decay,
    Adam's moments) can revive a pruned weight. The gradients of pruned weights are left alone:
    every optimizer here updates each entry from its own gradient only, so they cannot touch the
    live weights, and the pruned entries are zeroed again right after the step. The one global
    quantity, the gradient norm of clipping, is computed over the live weights only
    (:meth:`clip_grad_norm`). (Zeroing those gradients instead would keep Adam's second moment at
    exactly 0, and torch's CPU ``sqrt`` of exact zeros is ~20x slower than of other values: a
    90 %-sparse round took 45 % longer than a dense one.)
    """

    def __init__(self, params: dict[str, nn.Parameter], masks: Masks):
        self.params = [params[name] for name in masks]
        self.masks = list(masks.values())
        self.align()

    def align(self) -> None:
        """(Re)build the 0/1 factors in each weight's dtype, device and memory layout (e.g. after a
        conversion to channels_last), so the per-step multiply reads both with the same strides."""
        self.factors = [torch.empty_like(p, memory_format=torch.preserve_format).copy_(m)
                        for m, p in zip(self.masks, self.params)]

    @torch.no_grad()
    def mask_weights(self) -> None:
        torch._foreach_mul_(self.params, self.factors)

    @torch.no_grad()
    def clip_grad_norm(self, parameters: list[nn.Parameter], max_norm: float) -> float:
        """Scale every gradient by min(1, max_norm / (‖g_live‖₂ + 1e-6)), as ``clip_grad_norm_``
        does, where ‖g_live‖₂ counts the gradients of live weights only (pruned entries masked
        out of the norm, not out of the gradients). Returns the norm."""
        masked_ids = {id(p) for p in self.params}
        pairs = [(p.grad, f) for p, f in zip(self.params, self.factors) if p.grad is not None]
        others = [p.grad for p in parameters if p.grad is not None and id(p) not in masked_ids]
        squares = []
        if pairs:
            grads, factors = zip(*pairs)
            squares += [n * n for n in torch._foreach_norm(torch._foreach_mul(list(grads), list(factors)))]
        if others:
            squares += [n * n for n in torch._foreach_norm(others)]
        if not squares:
            return 0.0
        total = torch.stack(squares).sum().sqrt()
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        all_grads = [p.grad for p in parameters if p.grad is not None]
        torch._foreach_mul_(all_grads, coef)
        return total


def load_masks(path: str | pathlib.Path, device: str | torch.device = "cpu") -> Masks:
    """Read bit-packed masks as torch bool tensors on ``device``."""
    return {name: torch.from_numpy(a).to(device) for name, a in load_masks_numpy(path).items()}
