"""The machinery every algorithm shares for one repeat: the model, its checkpoints, training
with per-epoch events, and the per-round record (masks, weights, metrics, ``round`` event)."""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch

from ..checkpoints import Checkpoint, snapshot
from ..masks import MaskEnforcer, Masks, count_alive, layer_sparsity, prunable_parameters
from ..metrics import flop_table, footprint_bytes
from ..models import build_model
from ..schedules import LRSchedule
from ..train import EpochStats, train_epochs
from .base import RunContext


def round_generator(seed: int, round_index: int) -> torch.Generator:
    """The CPU generator of one round's data order and random scores: seeded by (seed, r)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + round_index)


class Repeat:
    """One repeat of an experiment: model, schedule, checkpoints and event emission."""

    def __init__(self, ctx: RunContext, repeat: int):
        self.ctx, self.repeat = ctx, repeat
        self.config, self.data = ctx.config, ctx.data
        self.seed = self.config.seed + repeat
        self.model = self.build_model(self.seed)
        self.params = prunable_parameters(self.model)
        self.schedule = LRSchedule(self.config.training)
        self.steps = math.ceil(self.data.n_train / self.config.training.batch_size)
        spec = self.data.spec
        self.flops = flop_table(self.model, (spec.in_channels, *spec.input_size))
        self.ckpt = Checkpoint(ctx.run_dir / f"repeat_{repeat}")
        self.epoch_hooks: list[Callable[[int, EpochStats], dict]] = []   # extra fields per epoch event
        self.current_masks: Masks | None = None
        if self.config.analysis.mask_dynamics:
            from ..analysis.dynamics import dynamics_hook
            self.epoch_hooks.append(dynamics_hook(self, masks_fn=lambda: self.current_masks))

    def build_model(self, seed: int) -> torch.nn.Module:
        """The configured model, initialised from ``seed``, on the run's device."""
        spec = self.ctx.data.spec
        torch.manual_seed(seed)
        model = build_model(self.ctx.config.model.name, in_channels=spec.in_channels,
                            num_classes=spec.num_classes, input_size=spec.input_size).to(self.ctx.device)
        if self.ctx.device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        return model

    def replay(self, t: float) -> float:
        """The original LR schedule at fractional epoch t."""
        return self.schedule(t, self.steps)

    def train(self, round_index: int, masks: Masks | None, schedule_epochs: Iterable[int],
              lr_at: Callable[[float], float], cumulative_before: int, *, first_epoch_number: int = 1,
              optimizer: torch.optim.Optimizer | None = None,
              after_epoch: Callable[[EpochStats], None] | None = None) -> list[EpochStats]:
        """Train with ``masks`` enforced (None = dense), emitting one ``epoch`` event per epoch."""
        schedule_epochs = list(schedule_epochs)
        self.current_masks = masks
        sparsity = 0.0
        if masks is not None:
            alive, total = count_alive(masks)
            sparsity = 1.0 - alive / total
        counted = [cumulative_before]

        def on_epoch(stats: EpochStats) -> None:
            self.ctx.progress.epoch_done()
            if round_index > 0:
                counted[0] += 1
            extra = {}
            for hook in self.epoch_hooks:
                extra.update(hook(round_index, stats))
            self.ctx.emit("epoch", repeat=self.repeat, round=round_index,
                          epoch=first_epoch_number + schedule_epochs.index(stats.schedule_epoch),
                          schedule_epoch=stats.schedule_epoch, lr=stats.lr, train_loss=stats.train_loss,
                          test_loss=stats.test_loss, test_accuracy=stats.test_accuracy, sparsity=sparsity,
                          cumulative_epochs=counted[0], seconds=stats.seconds,
                          eta_seconds=self.ctx.progress.eta_seconds(), **extra)
            if after_epoch is not None:
                after_epoch(stats)

        enforcer = None
        if masks is not None:
            enforcer = MaskEnforcer(self.params, masks)
            enforcer.mask_weights()
        return train_epochs(self.model, self.data, self.config.training, schedule_epochs=schedule_epochs,
                            lr_at=lr_at, generator=round_generator(self.seed, round_index), enforcer=enforcer,
                            on_epoch=on_epoch, should_stop=self.ctx.should_stop, on_step=self.ctx.on_step,
                            optimizer=optimizer)

    def finish_round(self, round_index: int, masks: Masks, history: list[EpochStats], cumulative: int,
                     **extra) -> None:
        """Save the round's masks and weights, emit its ``round`` event, then commit it (resume point).

        The event also carries the effective sparsity (weights disconnected by downstream pruning
        counted as pruned; None where the architecture is not a plain chain, e.g. ResNets).
        """
        from ..analysis.connectivity import round_effective_fields

        alive, total = count_alive(masks)
        mask_path = self.ckpt.save_masks(round_index, masks)
        state = snapshot(self.model)
        self.ckpt.save_weights("latest", state)
        if round_index == 0:
            self.ckpt.save_weights("round_000", state)
        self.ctx.emit("round", repeat=self.repeat, seed=self.seed, round=round_index, sparsity=1.0 - alive / total,
                      remaining_fraction=alive / total, remaining_weights=alive, total_weights=total,
                      test_accuracy=history[-1].test_accuracy,
                      best_test_accuracy=max(h.test_accuracy for h in history),
                      retrain_epochs=len(history), cumulative_epochs=cumulative,
                      seconds=sum(h.seconds for h in history), layer_sparsity=layer_sparsity(masks),
                      flops=self.flops.nonzero(masks), dense_flops=self.flops.total,
                      **footprint_bytes(self.model, masks),
                      mask_file=str(mask_path.relative_to(self.ctx.run_dir)),
                      **round_effective_fields(self.model, masks), **extra)
        self.ckpt.commit_round(round_index, cumulative)
