"""Train and evaluate N stacked copies together, equal to training them one by one.

:func:`train_stacked` is :func:`pruning_core.train.train_epochs` for N copies at once:

* data order: copy i draws its epochs from its own ``torch.Generator`` as the dataset's
  :meth:`~pruning_core.data.DeviceDataset.train_batches` does (:func:`stacked_train_batches`), so
  copy i sees exactly the batches (order and augmentation) that repeat i sees when trained alone;
  the N batches of a step come as [N, B, ...];
* loss: the sum over copies of each copy's mean cross-entropy, so the gradient of copy i's
  parameters is exactly the gradient of its own mean loss;
* optimizer: ONE torch optimizer over the stacked parameters, made by the engine's
  ``make_optimizer`` from the same training section; it must be elementwise
  (:func:`~.checks.check_elementwise_optimizer`), so it updates each copy as that copy's own
  optimizer would;
* gradient clipping: per copy, over each copy's live weights (masked entries left out of the
  norm, as :meth:`~pruning_core.masks.MaskEnforcer.clip_grad_norm` does);
* masks: stacked [N, ...] and multiplied in after every step by the engine's ``MaskEnforcer``;
* LR: one ``lr_at`` for all copies (batch only copies that share the schedule);
* evaluation per copy after every epoch (:func:`evaluate_stacked`).

Results equal the one-by-one path up to float32 summation order (batched matrix products).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import DeviceDataset
from ..masks import MaskEnforcer
from ..train import Cancelled, EpochStats, make_optimizer
from .checks import NotBatchable, check_elementwise_optimizer
from .stack import StackedModel


@dataclass
class StackedCallbacks:
    """``should_stop()`` before every step (True cancels), ``after_step(lr)`` after every step,
    ``after_epoch([stats of copy 0, …, copy N−1])`` after every epoch."""

    should_stop: Callable[[], bool] | None = None
    after_step: Callable[[float], None] | None = None
    after_epoch: Callable[[list[EpochStats]], None] | None = None


def _autocast(device: torch.device):
    """As the one-by-one loop: bf16 autocast on CUDA, plain float32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def per_copy_cross_entropy(logits: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of each copy: logits [N, B, C], y [N, B] or [B] → [N] (mean or sum over B)."""
    n, b, c = logits.shape
    if y.dim() == 1:
        y = y.expand(n, b)
    losses = F.cross_entropy(logits.reshape(n * b, c), y.reshape(n * b), reduction="none").view(n, b)
    return losses.mean(1) if reduction == "mean" else losses.sum(1)


def stacked_train_batches(data: DeviceDataset, batch_size: int, generators: Sequence[torch.Generator]):
    """One epoch of (x [N, B, ...], y [N, B]) batches: copy i's batches exactly as
    ``data.train_batches(batch_size, generators[i])`` yields them.

    Without augmentation the N permutations are drawn as ``train_batches`` documents it
    (``torch.randperm(n_train, generator=g)``) and each step gathers and normalises the N batches
    in one indexing and one normalisation (fewer kernels: on a GPU the step is launch-bound).
    With augmentation, whose draws interleave with the batches, the N epochs are
    ``train_batches`` itself, stacked step by step.
    """
    if data.augment:
        for batches in zip(*(data.train_batches(batch_size, g) for g in generators)):
            yield torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches])
        return
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = data.n_train
    perms = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(data.device)
    for start in range(0, n, batch_size):
        idx = perms[:, start:start + batch_size]
        x = data.train_x[idx.reshape(-1)]
        yield data.normalise(x).view(*idx.shape, *x.shape[1:]), data.train_y[idx]


@torch.no_grad()
def clip_grad_norm_per_copy(params: dict[str, Tensor], max_norm: float,
                            masks: dict[str, Tensor] | None = None) -> Tensor:
    """Scale copy i's gradients by min(1, max_norm / (‖g_i‖₂ + 1e-6)), ‖g_i‖₂ over copy i's
    gradients with masked (pruned) entries left out of the norm; returns the N norms."""
    grads = {name: p.grad for name, p in params.items() if p.grad is not None}
    if not grads:
        return torch.zeros(0)
    squares = []
    for name, g in grads.items():
        if masks is not None and name in masks:
            g = g * masks[name].to(g.dtype)
        squares.append(g.float().pow(2).flatten(1).sum(1))
    norms = torch.stack(squares).sum(0).sqrt()
    coef = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
    for g in grads.values():
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))).to(g.dtype))
    return norms


@torch.inference_mode()
def evaluate_stacked(model: StackedModel, data: DeviceDataset, batch_size: int) -> list[tuple[float, float]]:
    """(mean cross-entropy loss, accuracy) of each copy on the test set."""
    model.eval()
    device = data.device
    loss_sum = torch.zeros(model.n, device=device)
    correct = torch.zeros(model.n, device=device, dtype=torch.long)
    for x, y in data.test_batches(batch_size):
        with _autocast(device):
            logits = model(x, shared=True)
        loss_sum += per_copy_cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(-1) == y).sum(1)
    n = data.n_test
    return [(l / n, c / n) for l, c in zip(loss_sum.tolist(), correct.tolist())]


def train_stacked(model: StackedModel, data: DeviceDataset, cfg, schedule_epochs: Iterable[int],
                  lr_at: Callable[[float], float], generators: Sequence[torch.Generator], *,
                  masks: dict[str, Tensor] | None = None, optimizer: torch.optim.Optimizer | None = None,
                  callbacks: StackedCallbacks | None = None) -> list[list[EpochStats]]:
    """Train the N copies of ``model`` for the given schedule epochs; one history per copy.

    Arguments as :func:`pruning_core.train.train_epochs`, for N copies: ``generators[i]`` is copy
    i's data-order generator; ``masks`` are stacked [N, ...] (:func:`~.stack.stack_masks`) and,
    as there, re-applied after every step (the caller masks the weights before the first, as
    ``RepeatRun.train`` does). A fresh optimizer is made over the stacked parameters unless one
    is given (kept across rounds by the caller). ``EpochStats.seconds`` is the wall time of the
    batched epoch, the same for every copy. Raises :class:`~.checks.NotBatchable` for an
    optimizer that is not elementwise, :class:`~pruning_core.train.Cancelled` when asked to stop.
    """
    callbacks = callbacks or StackedCallbacks()
    generators = list(generators)
    if len(generators) != model.n:
        raise ValueError(f"train_stacked: {len(generators)} generators for {model.n} copies")
    if optimizer is None:
        optimizer = make_optimizer(cfg, model.parameters())
    check_elementwise_optimizer(optimizer)
    enforcer = MaskEnforcer(model.params, masks) if masks is not None else None
    device = data.device
    steps = math.ceil(data.n_train / cfg.batch_size)
    histories: list[list[EpochStats]] = [[] for _ in range(model.n)]
    for epoch in schedule_epochs:
        start = time.perf_counter()
        model.train()
        loss_sum = torch.zeros(model.n, device=device)
        lr = lr_at(float(epoch))
        for i, (x, y) in enumerate(stacked_train_batches(data, cfg.batch_size, generators)):
            if callbacks.should_stop is not None and callbacks.should_stop():
                raise Cancelled()
            lr = lr_at(epoch + i / steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with _autocast(device):
                logits = model(x)
            losses = per_copy_cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            if cfg.grad_clip is not None:
                clip_grad_norm_per_copy(model.params, cfg.grad_clip, masks)
            optimizer.step()
            if enforcer is not None:
                enforcer.mask_weights()
            loss_sum += losses.detach() * y.shape[1]
            if callbacks.after_step is not None:
                callbacks.after_step(lr)
        results = evaluate_stacked(model, data, cfg.eval_batch_size)
        seconds = time.perf_counter() - start
        train_losses = (loss_sum / data.n_train).tolist()
        stats = [EpochStats(int(epoch), lr, tl, loss, acc, seconds)
                 for tl, (loss, acc) in zip(train_losses, results)]
        for h, s in zip(histories, stats):
            h.append(s)
        if callbacks.after_epoch is not None:
            callbacks.after_epoch(stats)
    return histories


__all__ = ["NotBatchable", "StackedCallbacks", "clip_grad_norm_per_copy", "evaluate_stacked",
           "per_copy_cross_entropy", "stacked_train_batches", "train_stacked"]
