"""Cost metrics of a (pruned) model: non-zero FLOPs and memory footprint.

Dense FLOPs per layer come from ``torch.utils.flop_counter.FlopCounterMode`` on one input
sample (a multiply-add counts as 2 FLOPs, as that counter does). Unstructured pruning removes
work in proportion to the weights it removes, so the *non-zero* FLOPs of a conv/linear layer are
its dense FLOPs times its density (the usual convention; a masked dense model does not actually
run faster — only a compacted model or sparse kernels realise this). Layers without prunable
weights (batch norm, pooling, residual adds) keep their dense count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .masks import Masks, prunable_parameters


@dataclass(frozen=True)
class FlopTable:
    """Dense FLOPs of one forward pass of one sample: per prunable weight, and in total."""

    per_weight: dict[str, int]
    total: int

    def nonzero(self, masks: Masks) -> int:
        """FLOPs with each prunable layer scaled by its density (alive / total weights)."""
        pruned_work = 0.0
        for name, flops in self.per_weight.items():
            mask = masks[name]
            pruned_work += flops * (1.0 - float(mask.sum()) / mask.numel())
        return int(round(self.total - pruned_work))


def flop_table(model: nn.Module, input_shape: tuple[int, ...]) -> FlopTable:
    """Count the dense FLOPs of ``model`` on one sample of shape (C, H, W), per prunable layer."""
    param = next(model.parameters())
    x = torch.zeros((1, *input_shape), device=param.device, dtype=param.dtype)
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    model.train(was_training)
    counts = counter.get_flop_counts()
    root = type(model).__name__  # the counter names modules '<RootClass>.<dotted path>'
    per_weight = {}
    for name in prunable_parameters(model):
        key = f"{root}.{name.rsplit('.', 1)[0]}" if "." in name else root
        per_weight[name] = int(sum(counts.get(key, {}).values()))
    total = int(sum(counts.get("Global", {}).values()))
    return FlopTable(per_weight, total)


def footprint_bytes(model: nn.Module, masks: Masks) -> dict[str, int]:
    """Memory of the weights: dense float32, and sparse (surviving values + a 1-bit mask).

    The sparse figure stores every non-prunable parameter (biases, batch norm) densely, the
    surviving prunable weights as float32 values and the mask as one bit per prunable weight.
    """
    prunable = prunable_parameters(model)
    total = sum(p.numel() for p in model.parameters())
    n_prunable = sum(p.numel() for p in prunable.values())
    alive = sum(int(m.sum()) for m in masks.values())
    dense = 4 * total
    sparse = 4 * (total - n_prunable + alive) + (n_prunable + 7) // 8
    return {"dense_bytes": dense, "sparse_bytes": sparse}
