"""Effective sparsity (Paganini & Forde 2020, App. B, Fig. 12): explicit plus implicit pruning.

*Explicit* sparsity counts the weights the masks set to zero. *Effective* sparsity also counts
weights that downstream pruning has disconnected: a unit (neuron, or conv output channel)
whose outgoing weights in the next layer are all pruned no longer reaches the output, so its
incoming weights (its row, or its filter) get no gradient and could be zeroed without changing
the network's function. Conv → flatten → linear: channel c owns the H·W features
c·H·W … (c+1)·H·W − 1 of the flattened (NCHW) tensor.

Upstream disconnection (a unit whose incoming weights are all pruned) is where definitions
differ. Our default (``bias_is_source=True``): a unit with a bias — or followed by an affine
BatchNorm, whose shift is a bias — still emits the constant f(b), which reaches the output and
gives its outgoing weights gradients, so those stay alive; a unit without any bias emits
f(0) = 0 (ReLU-like activations only) and its outgoing weights are dead. With
``bias_is_source=False`` biases are ignored, as in the path-based definition of Vysogorets &
Kempe (2023, "Connectivity matters"): a weight counts only if it lies on an input→output path.
Every registered sequential model has a bias or a BatchNorm on every unit, so by default only
the downstream rule acts there — Paganini & Forde's definition.

Supported: chains of conv/linear layers (``nn.Sequential`` or the engine's
``FeatureClassifierNet``: LeNets, Conv-2/4/6, VGG) with ReLU-like activations, pooling, batch
norm, dropout, flatten in between. Residual networks (ResNets) are not chains: a skip
connection keeps a unit connected even when its convolutional path is cut; for them the explicit
masks are returned unchanged and :func:`effective_report` says ``supported: False``.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..masks import Masks, prunable_parameters
from .maskmath import effective_chain

__all__ = ["UnsupportedArchitecture", "chain_layers", "effective_masks", "effective_sparsity",
           "effective_report", "round_effective_fields"]

_ZERO_PRESERVING = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Hardtanh)
_PASS_THROUGH = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
                 nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Dropout, nn.Identity, nn.Flatten)
_BATCH_NORM = (nn.BatchNorm1d, nn.BatchNorm2d)
_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


class UnsupportedArchitecture(ValueError):
    """The model is not a chain of conv/linear layers (e.g. a ResNet)."""


def _leaves(module: nn.Module, root: bool = True):
    """The modules of a chain in forward order; raises UnsupportedArchitecture otherwise."""
    from ..models import FeatureClassifierNet

    if isinstance(module, nn.Sequential):
        for child in module:
            yield from _leaves(child, root=False)
    elif root and isinstance(module, FeatureClassifierNet):   # classifier(flatten(features(x)))
        yield from _leaves(module.features, root=False)
        yield from _leaves(module.classifier, root=False)
    elif isinstance(module, _LAYERS):
        if getattr(module, "groups", 1) != 1:
            raise UnsupportedArchitecture(f"grouped convolution {module} is not supported")
        yield module
    elif isinstance(module, _ZERO_PRESERVING + _PASS_THROUGH + _BATCH_NORM):
        yield module
    else:
        raise UnsupportedArchitecture(f"{type(module).__name__} is not part of a plain conv/linear chain "
                                      "(residual networks are not supported)")


def chain_layers(model: nn.Module) -> tuple[list[str], list[bool]]:
    """(prunable weight names in forward order, has_bias per layer) of a sequential model.

    A layer "has a bias" when it has one or when an affine BatchNorm follows it before the next
    conv/linear layer. Raises :class:`UnsupportedArchitecture` for non-chains (ResNets).
    """
    leaves = list(_leaves(model))
    names_by_module = {id(m): n for n, m in model.named_modules()}
    names, biases = [], []
    for module in leaves:
        if isinstance(module, _LAYERS):
            name = names_by_module[id(module)]
            names.append(f"{name}.weight" if name else "weight")
            biases.append(module.bias is not None)
        elif isinstance(module, _BATCH_NORM) and biases and module.affine:
            biases[-1] = True
    if names != list(prunable_parameters(model)):
        raise UnsupportedArchitecture("the forward order of the layers differs from their module order")
    return names, biases


def _explicit_copy(masks: Masks) -> Masks:
    return {n: m.clone() for n, m in masks.items()}


def effective_masks(model: nn.Module, masks: Masks, *, bias_is_source: bool = True,
                    strict: bool = False) -> Masks:
    """Masks with the disconnected weights also False (to a fixed point); same devices as ``masks``.

    Layers missing from ``masks`` count as dense and are not returned. For a model that is not
    a chain (ResNets) the explicit masks are returned (copied) with a warning, or
    :class:`UnsupportedArchitecture` is raised when ``strict``.
    """
    try:
        names, biases = chain_layers(model)
    except UnsupportedArchitecture as exc:
        if strict:
            raise
        warnings.warn(f"effective sparsity not computed ({exc}); explicit masks returned", stacklevel=2)
        return _explicit_copy(masks)
    params = prunable_parameters(model)
    full = [masks[n] if n in masks else torch.ones_like(params[n], dtype=torch.bool) for n in names]
    eff = effective_chain(full, biases, bias_is_source=bias_is_source)
    return {n: torch.from_numpy(e).to(masks[n].device) for n, e in zip(names, eff) if n in masks}


def _counts(masks: Masks) -> tuple[int, int]:
    return sum(int(m.sum()) for m in masks.values()), sum(m.numel() for m in masks.values())


def effective_sparsity(model: nn.Module, masks: Masks, *, bias_is_source: bool = True) -> float:
    """1 − effectively alive / total prunable weights (the explicit sparsity for unsupported models)."""
    alive, total = _counts(effective_masks(model, masks, bias_is_source=bias_is_source))
    return 1.0 - alive / total if total else 0.0


def effective_report(model: nn.Module, masks: Masks, *, bias_is_source: bool = True) -> dict:
    """Explicit and effective sparsity, model-wide and per layer, and whether the model is supported.

    ``{"supported", "reason", "explicit_sparsity", "effective_sparsity", "explicit_alive",
    "effective_alive", "total", "layers": {name: {"explicit_sparsity", "effective_sparsity"}}}``
    """
    try:
        chain_layers(model)
        supported, reason = True, None
    except UnsupportedArchitecture as exc:
        supported, reason = False, str(exc)
    eff = effective_masks(model, masks, bias_is_source=bias_is_source) if supported else _explicit_copy(masks)
    explicit_alive, total = _counts(masks)
    effective_alive, _ = _counts(eff)
    layers = {n: {"explicit_sparsity": 1.0 - float(masks[n].sum()) / masks[n].numel(),
                  "effective_sparsity": 1.0 - float(eff[n].sum()) / eff[n].numel()} for n in masks}
    return {"supported": supported, "reason": reason,
            "explicit_sparsity": 1.0 - explicit_alive / total if total else 0.0,
            "effective_sparsity": 1.0 - effective_alive / total if total else 0.0,
            "explicit_alive": explicit_alive, "effective_alive": effective_alive, "total": total,
            "layers": layers}


def round_effective_fields(model: nn.Module, masks: Masks, *, bias_is_source: bool = True) -> dict:
    """``{"effective_sparsity": value}`` for a ``round`` event; None (no warning) for non-chains."""
    try:
        chain_layers(model)
    except UnsupportedArchitecture:
        return {"effective_sparsity": None}
    return {"effective_sparsity": effective_sparsity(model, masks, bias_is_source=bias_is_source)}
