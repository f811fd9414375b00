"""Compaction: turn a structurally pruned (masked) sequential model into a smaller dense one.

A masked model is as slow as the dense one: its pruned weights are zeros that still get
multiplied. Only a model whose dead filters and channels are physically removed runs faster, so
latency claims for structured pruning are measured on :func:`compact`'s output, against the dense
model, in the same call (:func:`compaction_report`).

:func:`compact` keeps, for every conv/linear layer, the output channels that the next layer still
reads (any alive weight in its input slice; for conv → flatten → linear, any of the channel's H·W
features) and, for the output layer, every class. A dead filter whose output is still read (its
bias / batch-norm shift is a constant the next layer sees) is kept, so the result is exact for any
masks. Filters removed by output-axis pruning are never read (:mod:`pruning_core.pruners.structured`
masks the next layer's input slice), and input channels removed by input-axis pruning make the
previous layer's matching filter unread, so both shrink the model. Matching batch-norm entries and
the next layer's input channels go with a removed filter. The first layer's dead input channels
(image channels or pixels) are dropped by an index-select in front of it. Weights inside kept
slices that are masked stay as zeros. In eval mode the compacted model's outputs equal the masked
model's (up to float rounding).

Supported: ``FeatureClassifierNet`` (every non-ResNet model of :mod:`pruning_core.models`) and
``nn.Sequential`` of Conv2d, Linear, BatchNorm, ReLU, pooling, Flatten, Identity and Dropout.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
from torch import nn
from torch.func import functional_call

from .masks import Masks, count_alive, prunable_parameters
from .pruners.units import IN, filter_links, unit_alive

__all__ = ["SelectInputs", "compact", "compaction_report", "measure_latency"]

_PASSTHROUGH = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity,
                nn.Dropout)


class SelectInputs(nn.Module):
    """Keep the inputs ``index`` along dim 1 (channels of an image, or flattened features)."""

    def __init__(self, index: torch.Tensor):
        super().__init__()
        self.register_buffer("index", index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.index)


def _leaves(model: nn.Module) -> list[nn.Module]:
    """The modules of a sequential model in forward order (nested Sequentials flattened)."""
    from .models import FeatureClassifierNet

    def flat(m: nn.Module) -> list[nn.Module]:
        return [leaf for child in m for leaf in flat(child)] if isinstance(m, nn.Sequential) else [m]

    if isinstance(model, FeatureClassifierNet):
        leaves = flat(model.features) + [nn.Flatten()] + flat(model.classifier)
    elif isinstance(model, nn.Sequential):
        leaves = flat(model)
    else:
        raise ValueError(f"compact: supports sequential models (FeatureClassifierNet, nn.Sequential), not "
                         f"{type(model).__name__}; ResNets' skip connections tie channels across blocks")
    for leaf in leaves:
        ok = isinstance(leaf, (nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d) + _PASSTHROUGH) or \
            (isinstance(leaf, nn.Conv2d) and leaf.groups == 1)
        if not ok:
            raise ValueError(f"compact: cannot compact a {type(leaf).__name__} module")
    return leaves


def _kept_outputs(masks: Masks, links: dict[str, tuple[str, int]], names: list[str]) -> dict[str, torch.Tensor]:
    """Indices of the output channels of each layer that the next layer reads (all for the last)."""
    kept = {}
    for n in names:
        if n in links:
            nxt, per_unit = links[n]
            index = unit_alive(masks[nxt], IN, per_unit).nonzero().flatten()
            kept[n] = index if index.numel() else index.new_zeros(1)   # keep one (read as zeros)
        else:
            kept[n] = torch.arange(masks[n].shape[0], device=masks[n].device)
    return kept


@torch.no_grad()
def compact(model: nn.Module, masks: Masks) -> nn.Module:
    """A smaller dense ``nn.Sequential`` computing what ``model`` with ``masks`` applied computes."""
    leaves = _leaves(model)
    names = list(prunable_parameters(model))
    name_of = {id(m): f"{n}.weight" for n, m in model.named_modules() if f"{n}.weight" in masks}
    links = filter_links(model)
    kept = _kept_outputs(masks, links, names)
    first = unit_alive(masks[names[0]], IN).nonzero().flatten()
    first = first if first.numel() else first.new_zeros(1)
    out: list[nn.Module] = []
    in_index, channels = first, None          # kept input indices of the next prunable layer
    for leaf in leaves:
        if isinstance(leaf, (nn.Conv2d, nn.Linear)):
            name = name_of[id(leaf)]
            if name == names[0] and first.numel() < masks[name].shape[1]:
                out.append(SelectInputs(first))
            rows = kept[name]
            w = (leaf.weight * masks[name].to(leaf.weight.dtype))[rows][:, in_index].clone()
            if isinstance(leaf, nn.Conv2d):
                new = nn.Conv2d(w.shape[1], w.shape[0], leaf.kernel_size, leaf.stride, leaf.padding,
                                leaf.dilation, 1, leaf.bias is not None, leaf.padding_mode)
            else:
                new = nn.Linear(w.shape[1], w.shape[0], leaf.bias is not None)
            new = new.to(device=w.device, dtype=w.dtype)
            new.weight.copy_(w)
            if leaf.bias is not None:
                new.bias.copy_(leaf.bias[rows])
            out.append(new)
            channels = rows
            in_index = rows
            if name in links and links[name][1] > 1:   # conv -> flatten -> linear: H·W features each
                hw = links[name][1]
                in_index = (rows[:, None] * hw + torch.arange(hw, device=rows.device)).flatten()
        elif isinstance(leaf, (nn.BatchNorm1d, nn.BatchNorm2d)):
            new = copy.deepcopy(leaf)
            if channels is not None:
                new = type(leaf)(channels.numel(), leaf.eps, leaf.momentum, leaf.affine,
                                 leaf.track_running_stats).to(device=channels.device)
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    src = getattr(leaf, attr)
                    if src is not None:
                        getattr(new, attr).copy_(src[channels])
                if leaf.num_batches_tracked is not None:
                    new.num_batches_tracked.copy_(leaf.num_batches_tracked)
            out.append(new)
        else:
            out.append(copy.deepcopy(leaf))
    result = nn.Sequential(*out)
    result.train(model.training)
    return result


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def measure_latency(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 64, repeats: int = 20,
                    device: str | torch.device | None = None) -> float:
    """Median wall-clock seconds of one forward pass on a batch of ``(batch_size, *input_shape)``.

    Eval mode, no_grad, after ``max(3, repeats // 5)`` warm-up passes; CUDA is synchronised around
    each timed pass. ``device`` None = the model's device (a model on another device is copied).
    """
    current = next(model.parameters()).device
    device = torch.device(device) if device is not None else current
    m = model if device == current else copy.deepcopy(model).to(device)
    was_training = m.training
    m.eval()
    x = torch.randn(batch_size, *input_shape, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    try:
        for _ in range(max(3, repeats // 5)):
            m(x)
        times = []
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            m(x)
            sync()
            times.append(time.perf_counter() - start)
    finally:
        m.train(was_training)
    return statistics.median(times)


@torch.no_grad()
def compaction_report(model: nn.Module, masks: Masks, input_shape: tuple[int, ...], batch_size: int = 64,
                      repeats: int = 20, device: str | torch.device | None = None) -> dict:
    """Parameters, FLOPs and latency of the dense model against its compacted version.

    Both latencies come from this call, on the same device, batch and repeats; ``speedup`` =
    dense / compacted. The masked model runs the dense model's kernels on zeros, so its latency
    is the dense one (not measured separately). ``max_abs_diff`` compares the masked and compacted
    models' outputs on one random batch in eval mode.
    """
    from .metrics import flop_table

    compacted = compact(model, masks)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    x = torch.randn(min(batch_size, 16), *input_shape, device=next(model.parameters()).device)
    params = dict(model.named_parameters())
    masked = {n: params[n] * m.to(params[n].dtype) for n, m in masks.items()}
    was_training = model.training
    model.eval()
    compacted.eval()
    try:
        diff = float((functional_call(model, masked, (x,)) - compacted(x)).abs().max())
    finally:
        model.train(was_training)
    dense_latency = measure_latency(model, input_shape, batch_size, repeats, device)
    compact_latency = measure_latency(compacted, input_shape, batch_size, repeats, device)
    alive, total = count_alive(masks)
    return {
        "params_dense": _count(model), "params_compacted": _count(compacted),
        "weights_alive": alive, "weights_total": total,
        "flops_dense": flop_table(model, input_shape).total,
        "flops_compacted": flop_table(compacted, input_shape).total,
        "latency_dense_s": dense_latency, "latency_compacted_s": compact_latency,
        "speedup": dense_latency / compact_latency, "max_abs_diff": diff,
        "batch_size": batch_size, "repeats": repeats, "device": str(device),
    }
