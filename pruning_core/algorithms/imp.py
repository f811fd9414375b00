"""Iterative magnitude pruning (IMP) with weight rewinding, LR rewinding or fine-tuning; AIMP.

One repeat, following Algorithm 1 of Zullich et al. (AIMP paper) and Renda et al.'s variants:

* **Round 0** trains the dense network for T epochs on the schedule η(t), saving θ_k, the
  full state after k epochs (k = ``rewind_epoch``; k = 0 is the initialisation θ₀, the
  original lottery ticket).
* **Round r = 1 … R**: prune a fraction p of the surviving weights by |w| of the trained
  weights θ_T^(r−1) (global or local, see :mod:`pruning_core.pruners.unstructured`), then

  - ``rewind = "weights"`` (IMP+WR): θ ← θ_k ⊙ m^(r); train schedule epochs k … T−1;
  - ``rewind = "lr"`` (IMP+LRR): θ ← θ_T^(r−1) ⊙ m^(r); replay schedule epochs k … T−1;
  - ``rewind = "none"`` (fine-tuning): θ ← θ_T^(r−1) ⊙ m^(r); train T − k epochs at the
    constant last LR η_T of the original schedule.

  Each round retrains T − k epochs; with AIMP's τ (``partial_epochs``) the intermediate rounds
  1 … R−1 retrain only τ − k epochs (schedule epochs k … τ−1), the last round the full T − k.

Each round starts a fresh optimizer (no momentum carried across rounds). Pruned weights receive
no gradient and are re-zeroed after every step. The data order of round r is drawn from a
generator seeded by (seed, r), so a resumed run trains exactly as an uninterrupted one would.
"""

from __future__ import annotations

import math

import torch

from ..checkpoints import Checkpoint, snapshot
from ..masks import (MaskEnforcer, count_alive, full_masks, layer_sparsity, output_layer_name,
                     prunable_parameters)
from ..metrics import flop_table, footprint_bytes
from ..models import build_model
from ..pruners import prune_unstructured, score_weights
from ..schedules import LRSchedule
from ..train import EpochStats, train_epochs
from .base import RunContext


def round_generator(seed: int, round_index: int) -> torch.Generator:
    """The CPU generator of one round's data order and random scores: seeded by (seed, r)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + round_index)


def build_for_data(ctx: RunContext, seed: int) -> torch.nn.Module:
    """The configured model, initialised from ``seed``, on the run's device."""
    spec = ctx.data.spec
    torch.manual_seed(seed)
    model = build_model(ctx.config.model.name, in_channels=spec.in_channels,
                        num_classes=spec.num_classes, input_size=spec.input_size).to(ctx.device)
    if ctx.device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def run_imp(ctx: RunContext, repeat: int) -> None:
    """Run one repeat of IMP / AIMP, emitting ``epoch`` and ``round`` events."""
    cfg, data = ctx.config, ctx.data
    seed = cfg.seed + repeat
    T, k, R = cfg.training.epochs, cfg.algorithm.rewind_epoch, cfg.algorithm.rounds
    model = build_for_data(ctx, seed)
    params = prunable_parameters(model)
    layer_rates = ({output_layer_name(model): cfg.pruner.output_rate}
                   if cfg.pruner.output_rate is not None else {})
    schedule = LRSchedule(cfg.training)
    steps = math.ceil(data.n_train / cfg.training.batch_size)
    flops = flop_table(model, (data.spec.in_channels, *data.spec.input_size))
    ckpt = Checkpoint(ctx.run_dir / f"repeat_{repeat}")

    def train(round_index: int, masks, schedule_epochs, lr_at, cumulative_before: int) -> list[EpochStats]:
        alive, total = count_alive(masks)
        current_sparsity = 1.0 - alive / total
        counted = [cumulative_before]

        def on_epoch(stats: EpochStats) -> None:
            ctx.progress.epoch_done()
            if round_index > 0:
                counted[0] += 1
            ctx.emit("epoch", repeat=repeat, round=round_index,
                     epoch=stats.schedule_epoch - schedule_epochs.start + 1,
                     schedule_epoch=stats.schedule_epoch, lr=stats.lr, train_loss=stats.train_loss,
                     test_loss=stats.test_loss, test_accuracy=stats.test_accuracy,
                     sparsity=current_sparsity, cumulative_epochs=counted[0], seconds=stats.seconds,
                     eta_seconds=ctx.progress.eta_seconds())
            if round_index == 0 and stats.schedule_epoch + 1 == k:
                ckpt.save_weights("rewind", snapshot(model))

        enforcer = MaskEnforcer(params, masks) if round_index > 0 else None
        if enforcer is not None:
            enforcer.mask_weights()
        return train_epochs(model, data, cfg.training, schedule_epochs=schedule_epochs, lr_at=lr_at,
                            generator=round_generator(seed, round_index), enforcer=enforcer,
                            on_epoch=on_epoch, should_stop=ctx.should_stop, on_step=ctx.on_step)

    def finish_round(round_index: int, masks, history: list[EpochStats], cumulative: int) -> None:
        alive, total = count_alive(masks)
        mask_path = ckpt.save_masks(round_index, masks)
        ckpt.save_weights("latest", snapshot(model))
        if round_index == 0:
            ckpt.save_weights("round_000", snapshot(model))
        ctx.emit("round", repeat=repeat, seed=seed, round=round_index, sparsity=1.0 - alive / total,
                 remaining_fraction=alive / total, remaining_weights=alive, total_weights=total,
                 test_accuracy=history[-1].test_accuracy,
                 best_test_accuracy=max(h.test_accuracy for h in history),
                 retrain_epochs=len(history), cumulative_epochs=cumulative,
                 seconds=sum(h.seconds for h in history),
                 layer_sparsity=layer_sparsity(masks), flops=flops.nonzero(masks),
                 dense_flops=flops.total, **footprint_bytes(model, masks),
                 mask_file=str(mask_path.relative_to(ctx.run_dir)))
        ckpt.commit_round(round_index, cumulative)

    def replay(t: float) -> float:
        return schedule(t, steps)

    done = ckpt.last_round() if ctx.resume else None
    if done is None:
        masks = full_masks(params)
        ckpt.save_weights("init", snapshot(model))
        if k == 0:
            ckpt.save_weights("rewind", snapshot(model))
        history = train(0, masks, range(0, T), replay, 0)
        finish_round(0, masks, history, 0)
        first, cumulative = 1, 0
    else:
        model.load_state_dict(ckpt.load_weights("latest", ctx.device))
        masks = ckpt.load_masks(done["round"], ctx.device)
        first, cumulative = done["round"] + 1, done["cumulative_epochs"]
        ctx.emit("resumed", repeat=repeat, from_round=done["round"])

    rewind_state = ckpt.load_weights("rewind", ctx.device) if cfg.algorithm.rewind == "weights" else None
    rate = cfg.per_round_rate
    for r in range(first, R + 1):
        scores = score_weights(cfg.pruner.method, params, generator=round_generator(seed, r))
        masks = prune_unstructured(scores, masks, rate, cfg.pruner.scope, layer_rates)
        if rewind_state is not None:
            model.load_state_dict(rewind_state)
        epochs = cfg.retrain_epochs(r)
        if cfg.algorithm.rewind == "none":
            fine_tune_lr = schedule.last_lr(steps)
            lr_at = lambda t, lr=fine_tune_lr: lr  # noqa: E731 - constant last LR
        else:
            lr_at = replay
        history = train(r, masks, range(k, k + epochs), lr_at, cumulative)
        cumulative += epochs
        finish_round(r, masks, history, cumulative)
