"""ASNI-II's amenable initialisation (torch): centroids of the surviving weights and the state
that starts from them (see :mod:`pruning_core.algorithms.asni`)."""

from __future__ import annotations

import torch
from torch import nn

from .masks import PRUNABLE_LAYERS, Masks


def centroids(weights: dict[str, torch.Tensor], masks: Masks) -> dict[str, dict[str, float | None]]:
    """Per layer l: c₊ = mean of the surviving weights > 0, c₋ = mean of those < 0 (Alg. 3,
    lines 14 and 16); None where the layer has no such survivor."""
    out = {}
    for name, m in masks.items():
        w = weights[name].detach().float()[m.to(weights[name].device)]
        pos, neg = w[w > 0], w[w < 0]
        out[name] = {"c_plus": float(pos.mean()) if pos.numel() else None,
                     "c_minus": float(neg.mean()) if neg.numel() else None}
    return out


def amenable_weights(weights: dict[str, torch.Tensor], masks: Masks,
                     cents: dict[str, dict[str, float | None]]) -> dict[str, torch.Tensor]:
    """θ⁰ of ASNI-II per layer: c₊ where θ̂* > 0, c₋ where θ̂* < 0, 0 elsewhere (pruned, or 0)."""
    out = {}
    for name, m in masks.items():
        w = weights[name] * m.to(weights[name].device)
        c = cents[name]
        init = torch.zeros_like(w)
        if c["c_plus"] is not None:
            init[w > 0] = c["c_plus"]
        if c["c_minus"] is not None:
            init[w < 0] = c["c_minus"]
        out[name] = init
    return out


def amenable_state(model: nn.Module, init: dict[str, torch.Tensor], weights: dict[str, torch.Tensor],
                   masks: Masks, cents: dict) -> dict[str, torch.Tensor]:
    """The full ASNI-II starting state: θ₀ (``init``, for anything else) with the prunable weights
    replaced by :func:`amenable_weights`, conv/linear biases 0, batch norm weight 1 and bias 0."""
    state = {k: v.clone() for k, v in init.items()}
    state.update(amenable_weights(weights, masks, cents))
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, PRUNABLE_LAYERS) and module.bias is not None:
            state[prefix + "bias"].zero_()
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            state[prefix + "bias"].zero_()
            state[prefix + "weight"].fill_(1.0)
    return state
