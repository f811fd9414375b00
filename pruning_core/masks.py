"""Pruning masks: one boolean tensor per prunable weight, applied without hooks.

A :data:`Masks` maps a parameter name (as in ``model.named_parameters()``) to a bool tensor of
the same shape: True = the weight survives, False = pruned. Prunable tensors are the weights of
convolution and linear layers; biases and batch-norm parameters are never pruned.

Masks are enforced by multiplying them into the weights (and gradients) with one ``foreach``
kernel per step (:class:`MaskEnforcer`), instead of ``torch.nn.utils.prune``'s forward hooks and
its three copies of every weight. On disk they are bit-packed (1 bit per weight, numpy
``packbits``) in an ``.npz`` that numpy alone reads back, so the app can draw them without torch.
"""

from __future__ import annotations

import pathlib

import torch
from torch import nn

from .maskfile import load_masks_numpy, save_masks_numpy

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


def sparsity(masks: Masks) -> float:
    """Global sparsity: pruned / total prunable weights."""
    alive, total = count_alive(masks)
    return 1.0 - alive / total


def layer_sparsity(masks: Masks) -> dict[str, float]:
    """Per-layer sparsity: pruned / total weights of each layer."""
    return {name: 1.0 - float(m.sum()) / m.numel() for name, m in masks.items()}


class MaskEnforcer:
    """Keeps pruned weights at exactly zero during training, with foreach kernels and no hooks.

    ``mask_gradients()`` runs after backward (pruned weights get no gradient, so gradient-norm
    clipping sees only the live network); ``mask_weights()`` runs after the optimizer step (so
    weight decay or an optimizer's moments can never revive a pruned weight).
    """

    def __init__(self, params: dict[str, nn.Parameter], masks: Masks):
        self.params = [params[name] for name in masks]
        self.factors = [m.to(device=p.device, dtype=p.dtype) for m, p in zip(masks.values(), self.params)]

    @torch.no_grad()
    def mask_weights(self) -> None:
        torch._foreach_mul_(self.params, self.factors)

    @torch.no_grad()
    def mask_gradients(self) -> None:
        pairs = [(p.grad, f) for p, f in zip(self.params, self.factors) if p.grad is not None]
        if pairs:
            grads, factors = zip(*pairs)
            torch._foreach_mul_(list(grads), list(factors))


def save_masks(masks: Masks, path: str | pathlib.Path) -> None:
    """Write masks bit-packed (1 bit per weight) to an .npz readable with numpy alone (see maskfile)."""
    save_masks_numpy({name: m.detach().cpu().numpy() for name, m in masks.items()}, path)


def load_masks(path: str | pathlib.Path, device: str | torch.device = "cpu") -> Masks:
    """Read bit-packed masks as torch bool tensors on ``device``."""
    return {name: torch.from_numpy(a).to(device) for name, a in load_masks_numpy(path).items()}
