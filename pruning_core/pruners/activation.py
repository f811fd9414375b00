"""Activations of pruned layers (torch), for activation-based scores (IAP, AIAP, Taylor).

Ā_j^i is the mean post-ReLU output of filter j of layer i (over the batch and the h^i × w^i
positions), or of neuron j of a linear layer (over the batch), with the current masks applied
(``functional_call`` on W ⊙ M: the model itself is not touched), in eval mode. "Post-ReLU" is
the output of the first ``nn.ReLU`` module that follows the layer in module order, before the
next conv/linear layer, so batch norm (VGG: conv → BN → ReLU) is included; a layer with no such
ReLU raises a ValueError. The IAP paper's formula writes Ā = (1/b) Σ_k Σ_l a_kl (positions
summed, not averaged) but calls it the mean; we take the mean over b·h·w, which the text
describes and which keeps λ independent of the image size.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..masks import PRUNABLE_LAYERS, Masks


def relu_after(model: nn.Module, names: list[str]) -> dict[str, nn.ReLU]:
    """For each prunable weight name, the first nn.ReLU after its layer, before the next conv/linear."""
    weight_of = {n.rsplit(".", 1)[0] if "." in n else "": n for n in names}
    found: dict[str, nn.ReLU] = {}
    current = None
    for mod_name, module in model.named_modules():
        if mod_name in weight_of:
            current = weight_of[mod_name]
        elif isinstance(module, PRUNABLE_LAYERS):
            current = None
        elif isinstance(module, nn.ReLU) and current is not None and current not in found:
            found[current] = module
            current = None
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"pruner.score: activation-based scores need an nn.ReLU module after each pruned "
                         f"layer; none follows {', '.join(missing)}")
    return found


@contextlib.contextmanager
def _capture(model: nn.Module, names: list[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Record the post-ReLU output of each layer in ``names`` during the forward passes inside."""
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for n, relu in relu_after(model, names).items():
        def hook(_module, _inputs, out, n=n):
            outputs[n] = out
        handles.append(relu.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        yield outputs
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()


def masked_parameters(model: nn.Module, masks: Masks) -> dict[str, torch.Tensor]:
    """The model's parameters with W ⊙ M in place of each masked weight (for ``functional_call``)."""
    params = dict(model.named_parameters())
    return {**params, **{n: params[n] * m.to(params[n].dtype) for n, m in masks.items()}}


@torch.no_grad()
def mean_activations(model: nn.Module, masks: Masks, names: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Ā per filter/neuron (float64) of each layer in ``names``, with the masks applied, in eval mode."""
    params = dict(model.named_parameters())
    masked = {n: params[n] * m.to(params[n].dtype) for n, m in masks.items()}
    with _capture(model, names) as outputs:
        functional_call(model, masked, (x,))
    return {n: out.double().transpose(0, 1).reshape(out.shape[1], -1).mean(dim=1) for n, out in outputs.items()}


def activations_and_gradients(model: nn.Module, masks: Masks, names: list[str], x: torch.Tensor,
                              y: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(a, ∂L/∂a) of each layer's post-ReLU output, L the mean cross-entropy of the batch, with the
    masks applied, in eval mode; the model's parameters get no gradients."""
    params = {n: p.detach().requires_grad_() for n, p in masked_parameters(model, masks).items()}
    with _capture(model, names) as outputs:
        loss = F.cross_entropy(functional_call(model, params, (x,)).float(), y)
        grads = torch.autograd.grad(loss, [outputs[n] for n in names])
    return {n: (outputs[n].detach(), g.detach()) for n, g in zip(names, grads)}


def weight_gradients(model: nn.Module, masks: Masks, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """∂L/∂w of every masked weight, L the mean cross-entropy of the batch with W ⊙ M, in eval mode."""
    params = {n: p.detach().requires_grad_(n in masks) for n, p in masked_parameters(model, masks).items()}
    was_training = model.training
    model.eval()
    try:
        loss = F.cross_entropy(functional_call(model, params, (x,)).float(), y)
        names = list(masks)
        grads = torch.autograd.grad(loss, [params[n] for n in names])
    finally:
        model.train(was_training)
    return dict(zip(names, grads))
