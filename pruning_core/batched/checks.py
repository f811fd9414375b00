"""What seed batching accepts, with the reason when it does not.

Batching trains N copies through one optimizer over parameters stacked along a new leading
dimension. That equals N separate optimizers only when the optimizer updates every entry from
that entry's own gradient and state (plus scalars shared by all entries, such as the step count
and the LR): SGD (momentum, dampening, Nesterov, L2 weight decay), Adam, AdamW and NAdam (torch's
class and the engine's :class:`~pruning_core.nadam.FusedNAdam`; including its ``mu_product``, a
scalar per tensor that only depends on the step count, so it is the same for every copy that steps
in lockstep). An optimizer that reads across entries — LBFGS
(line search over the whole vector), Adafactor (row/column factored moments, update RMS),
LAMB/LARS-type trust ratios (per-tensor norms) — would mix the copies, so it is refused.

Models: each copy runs through ``torch.func.functional_call`` under ``vmap``. A model with
buffers (BatchNorm running statistics are updated in place during training) or with dropout
(random draws under ``vmap`` are not per-copy streams that match the one-by-one run) is refused;
LeNet-300-100, LeNet-5 and Conv-2/4/6 have neither.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nadam import FusedNAdam

#: Optimizer classes verified to update each entry on its own (tests/unit/test_seed_batching.py).
ELEMENTWISE_OPTIMIZERS: tuple[type[torch.optim.Optimizer], ...] = (
    torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.NAdam, FusedNAdam)

_RANDOM_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                   nn.FeatureAlphaDropout)


class NotBatchable(ValueError):
    """These copies cannot be trained as one batched model; the message says why. The caller
    trains them one by one instead (nothing about the results depends on the choice)."""


def check_elementwise_optimizer(optimizer: torch.optim.Optimizer) -> None:
    """Raise :class:`NotBatchable` unless ``optimizer`` is one whose update is elementwise."""
    if type(optimizer) not in ELEMENTWISE_OPTIMIZERS:
        allowed = ", ".join(c.__name__ for c in ELEMENTWISE_OPTIMIZERS)
        raise NotBatchable(
            f"seed batching needs an elementwise optimizer (each weight updated from its own gradient "
            f"and state), one of {allowed}; got {type(optimizer).__name__}, whose update reads across "
            "entries and would mix the copies. Train these repeats one by one")


def check_batchable_model(model: nn.Module, name: str | None = None) -> None:
    """Raise :class:`NotBatchable` when ``model`` has buffers (e.g. BatchNorm running statistics)
    or dropout; ``name`` (the registry name) only makes the message clearer."""
    label = name or type(model).__name__
    bn = [n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    if bn:
        raise NotBatchable(
            f"seed batching does not support {label}: it has batch normalisation ({bn[0]}, "
            f"{len(bn)} layer(s)), whose running statistics are updated in place during training and are "
            "not batched here. BN-free models (lenet300_100, lenet5, conv2/4/6) can be batched; train "
            "this one repeat by repeat")
    buffers = [n for n, _ in model.named_buffers()]
    if buffers:
        raise NotBatchable(f"seed batching does not support {label}: it has buffers ({', '.join(buffers[:3])}), "
                           "which the batched trainer does not update per copy; train it repeat by repeat")
    drop = [n for n, m in model.named_modules() if isinstance(m, _RANDOM_MODULES)]
    if drop:
        raise NotBatchable(f"seed batching does not support {label}: it uses dropout ({drop[0]}), whose random "
                           "draws would not follow each copy's own random stream; train it repeat by repeat")


def check_same_architecture(models: list[nn.Module]) -> None:
    """Raise :class:`NotBatchable` unless all models have the same class, parameter names, shapes,
    dtypes and device."""
    if not models:
        raise NotBatchable("seed batching needs at least one model")
    first = models[0]
    ref = [(n, p.shape, p.dtype, p.device) for n, p in first.named_parameters()]
    for i, m in enumerate(models[1:], start=1):
        if type(m) is not type(first) or [(n, p.shape, p.dtype, p.device) for n, p in m.named_parameters()] != ref:
            raise NotBatchable(f"seed batching needs copies of one architecture: model {i} differs from model 0 "
                               "(class, parameter names, shapes, dtypes or device)")
