"""The shared round loop (torch): one repeat of any algorithm, executed from its plan.

:func:`run_repeat` builds the model, resumes after the last committed round if asked, and calls
``algorithm.run_round(run, step)`` for every :class:`~pruning_core.plan.RoundPlan` of the plan,
then ``algorithm.finish(run)``. :class:`RepeatRun` is what those hooks act through:

* ``prune(step)`` — the configured pruner (scores on the current weights), ALLR's d if needed;
* ``treat(name)`` — a registered weight treatment (rewind to θ_k, keep, σ·sign(w₀), …);
* ``train(step)`` — the round's epochs on its LR, masks enforced, one ``epoch`` event each;
* ``finish_round(step, history, **extra)`` — masks, round-numbered weights, the ``round``
  event, then the commit point (``state.json``: the round, its weights, the pruner's state and
  the algorithm's memo). Nothing written before the commit replaces what the previous commit
  needs, so a kill at any instant resumes from a consistent round.

The data order and random scores of round r come from a generator seeded by (seed, r), so a
resumed run trains exactly as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .data import DeviceDataset
from .errors import Diverged
from .masks import MaskEnforcer, Masks, count_alive, full_masks, layer_sparsity, prunable_parameters
from .metrics import flop_table, footprint_bytes
from .models import build_model
from .plan import Plan, RoundPlan
from .pruners.pruner import make_pruner
from .registry import TREATMENTS
from .rundir import RunDir
from .schedules import LRSchedule
from .shared_dense import SharedDense
from .train import EpochStats, TrainCallbacks, evaluate, make_optimizer, train_epochs


class Progress:
    """Counts finished epochs against the planned total and estimates the remaining time."""

    def __init__(self, total_epochs: int, done: int = 0):
        self.total = total_epochs
        self.done = done
        self._session_done = 0
        self._start = time.perf_counter()

    def epoch_done(self) -> None:
        self.done += 1
        self._session_done += 1

    def eta_seconds(self) -> float | None:
        """Mean seconds per epoch so far (this session) × epochs left; None before the first."""
        if self._session_done == 0:
            return None
        per_epoch = (time.perf_counter() - self._start) / self._session_done
        return per_epoch * max(0, self.total - self.done)


@dataclass
class RunContext:
    """Everything one repeat needs from the runner."""

    config: Any
    plan: Plan
    data: DeviceDataset
    device: torch.device
    run_dir: RunDir
    emit: Callable[..., None]                 # emit(kind, **fields): one event
    should_stop: Callable[[], bool]           # polled between training steps
    progress: Progress
    resume: bool = False
    dense_root: Any = None                    # the store root where round 0 is shared; None = off
    job_id: str | None = None


def round_generator(seed: int, round_index: int) -> torch.Generator:
    """The CPU generator of one round's data order and random scores: seeded by (seed, r)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + round_index)


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's full state (parameters and buffers), on its device."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class RepeatRun:
    """One repeat of an experiment: the model, its masks and artifacts, and the round primitives."""

    def __init__(self, ctx: RunContext, repeat: int):
        self.ctx, self.repeat = ctx, repeat
        self.config, self.plan, self.data = ctx.config, ctx.plan, ctx.data
        self.seed = self.config.seed + repeat
        self.model = self.build_model(self.seed)
        self.params = prunable_parameters(self.model)
        self.prunable_names = list(self.params)
        self.schedule = LRSchedule(self.config.training)
        self.steps = math.ceil(self.data.n_train / self.config.training.batch_size)
        spec = self.data.spec
        self.flops = flop_table(self.model, (spec.in_channels, *spec.input_size))
        self.files = ctx.run_dir.repeat(repeat)
        self.pruner = make_pruner(self.config, self.model, self.data, initial=lambda: self.saved_state("init"))
        if any(r.prune is not None and r.prune.kind == "to_sparsity" for r in self.plan.rounds) \
                and not self.pruner.target_layers():
            raise ValueError(f"pruner: every layer of {self.config.model.name} that pruner.layers selects has a "
                             "rate of 0, so the schedule has nothing to prune")
        self.masks: Masks = full_masks(self.params)
        self.memo: dict = {}
        self.optimizer: torch.optim.Optimizer | None = None
        self.d: float | None = None                 # ALLR's d of the current round
        self.d1: float | None = None                # … and its d₁ (recorded: d may be d₂)
        self._before_pruning: dict | None = None    # the state pruning started from (stability)
        self._states: dict[str, dict] = {}
        self._current_masks: Masks | None = None   # the masks of the round being trained (None: dense)
        self._round_sparsity = 0.0
        self.epoch_hooks: list[Callable[[int, EpochStats], dict]] = []
        if self.config.analysis.mask_dynamics:
            from .analysis.dynamics import dynamics_hook
            self.epoch_hooks.append(dynamics_hook(self, masks_fn=lambda: self._current_masks))

    # ---- the model and its saved states ------------------------------------------------------

    def build_model(self, seed: int) -> torch.nn.Module:
        """The configured model, initialised from ``seed``, on the run's device."""
        spec = self.ctx.data.spec
        torch.manual_seed(seed)
        model = build_model(self.config.model.name, in_channels=spec.in_channels,
                            num_classes=spec.num_classes, input_size=spec.input_size).to(self.ctx.device)
        if self.ctx.device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        return model

    def saved_state(self, name: str) -> dict[str, torch.Tensor]:
        """A state saved in this repeat's folder (``init``, ``rewind``, ``round_000``), cached."""
        if name not in self._states:
            self._states[name] = self.files.load_weights(name, self.ctx.device)
        return self._states[name]

    def fresh_state(self) -> dict[str, torch.Tensor]:
        """A fresh initialisation of the same architecture (one per repeat; the random treatment)."""
        if "fresh" not in self._states:
            self._states["fresh"] = self.build_model(self.seed + 7919 * (self.repeat + 1)).state_dict()
        return self._states["fresh"]

    def emit(self, kind: str, **fields: Any) -> None:
        """One event of this run (e.g. an algorithm's summary)."""
        self.ctx.emit(kind, **fields)

    def current_state(self) -> dict[str, torch.Tensor]:
        return snapshot(self.model)

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

    def alive_weights(self) -> tuple[int, int]:
        """(surviving, total) prunable weights under the current masks."""
        return count_alive(self.masks)

    def pruned_group_sparsity(self) -> float:
        """Sparsity of the layers a schedule prunes (those whose group rate is not 0)."""
        names = self.pruner.target_layers()
        n = sum(self.masks[k].numel() for k in names)
        return 1 - sum(int(self.masks[k].sum()) for k in names) / n

    # ---- start and resume --------------------------------------------------------------------

    def start(self) -> None:
        """A fresh repeat: dense masks, θ₀ saved."""
        self.masks = full_masks(self.params)
        self.files.save_weights("init", snapshot(self.model))

    def resume(self) -> int | None:
        """Continue after the last committed round; return it (None: start from scratch).

        A run that keeps one optimizer across rounds needs the optimizer state saved with that
        round; without it the repeat starts again (``resumed`` with ``restarted``)."""
        state = self.files.committed()
        if state is None:               # killed before its first commit: what it emitted is superseded
            self.ctx.emit("resumed", repeat=self.repeat, from_round=-1, restarted=True)
            return None
        done = state["round"]
        indices = [r.index for r in self.plan.rounds]
        following = [r for r in self.plan.rounds if r.index > done]
        if following and following[0].optimizer == "shared" and done in indices and \
                self.plan.round(done).optimizer == "shared":
            saved = self.files.load_optimizer(done, self.ctx.device)
            if saved is None:
                self.ctx.emit("resumed", repeat=self.repeat, from_round=-1, restarted=True)
                self.ctx.progress.done -= self.plan.epochs_through(done)
                return None
            self.optimizer = make_optimizer(self.config.training, self.model.parameters())
            self.optimizer.load_state_dict(saved)
        self.model.load_state_dict(self.files.load_weights(self.files.last_weights(), self.ctx.device))
        self.masks = {n: torch.from_numpy(m).to(self.ctx.device) for n, m in self.files.load_masks(done).items()}
        self.pruner.load_state_dict(state.get("pruner", {}))
        self.memo = state.get("memo", {})
        self.ctx.emit("resumed", repeat=self.repeat, from_round=done)
        return done

    # ---- the round primitives ----------------------------------------------------------------

    def prune(self, step: RoundPlan) -> int:
        """Prune as ``step.prune`` says; return how many weights this removed."""
        before = self.masks
        if not step.prune_after:
            self._before_pruning = snapshot(self.model)
        self.masks = self.pruner.prune(before, step.prune, step.index, round_generator(self.seed, step.index))
        if step.lr.scaled:      # ALLR: d = max(d₁, d₂) from this step, θ as the policy's d1_over says
            self.d, self.d1 = step.lr.policy.discount(dict(self.model.named_parameters()), before, self.masks,
                                                      step.epochs, self.config.training.epochs)
        return count_alive(before)[0] - count_alive(self.masks)[0]

    def treat(self, name: str) -> None:
        """Apply a registered weight treatment (None from it keeps the weights)."""
        state = TREATMENTS.get(name)(self)
        if state is not None:
            self.model.load_state_dict(state)

    def train(self, step: RoundPlan, should_stop: Callable[[], bool] | None = None) -> list[EpochStats]:
        """Train the round's epochs (round 0 dense, others with the masks enforced after every
        step), emitting one ``epoch`` event per epoch and saving the planned checkpoints.
        ``should_stop`` (default: the job's) is polled between steps."""
        lr_at = step.lr.function(self.schedule, self.steps, self.d if (step.lr.scaled and self.d is not None) else 1.0)
        optimizer = None
        if step.optimizer == "shared":
            if self.optimizer is None:
                self.optimizer = make_optimizer(self.config.training, self.model.parameters())
            optimizer = self.optimizer
        self.begin_round(step)
        enforcer = None if self._current_masks is None else MaskEnforcer(self.params, self._current_masks)
        done = [0]

        def after_epoch(stats: EpochStats) -> None:
            done[0] += 1
            self.record_epoch(step, stats, done[0])

        callbacks = TrainCallbacks(should_stop=should_stop or self.ctx.should_stop, after_epoch=after_epoch)
        return train_epochs(self.model, self.data, self.config.training, step.schedule_epochs(), lr_at,
                            round_generator(self.seed, step.index), enforcer=enforcer, optimizer=optimizer,
                            callbacks=callbacks)

    def begin_round(self, step: RoundPlan) -> None:
        """Before a round's first step, whoever trains it (``train`` here, or a batched group of
        repeats): the round's masks multiplied into the weights (none in a dense round), their
        sparsity kept for the ``epoch`` events, and checkpoint 0 saved if the plan asks for it."""
        masks = None if step.dense else self.masks
        self._current_masks, self._round_sparsity = masks, 0.0
        if masks is not None:
            self.mask_weights(masks)
            alive, total = count_alive(masks)
            self._round_sparsity = 1.0 - alive / total
        checkpoints = dict(step.checkpoints)
        if 0 in checkpoints:
            self.files.save_weights(checkpoints[0], snapshot(self.model))

    @torch.no_grad()
    def mask_weights(self, masks: Masks) -> None:
        """Multiply the masks into the weights, in place (pruned weights become exactly 0)."""
        for name, m in masks.items():
            self.params[name].mul_(m.to(self.params[name].dtype))

    def record_epoch(self, step: RoundPlan, stats: EpochStats, epoch: int) -> None:
        """After the round's ``epoch``-th epoch (1-based) ended with ``stats`` and this repeat's
        weights are back in ``self.model``: the run's epoch hooks, the ``epoch`` event, the
        divergence check, and the checkpoint the plan puts after this epoch."""
        self.ctx.progress.epoch_done()
        extra = {}
        for hook in self.epoch_hooks:
            extra.update(hook(step.index, stats))
        counted_before = step.cumulative - step.epochs if step.index > 0 else 0
        self.ctx.emit("epoch", repeat=self.repeat, round=step.index, epoch=epoch,
                      schedule_epoch=stats.schedule_epoch, lr=stats.lr, train_loss=stats.train_loss,
                      test_loss=stats.test_loss, test_accuracy=stats.test_accuracy, sparsity=self._round_sparsity,
                      cumulative_epochs=counted_before + epoch if step.index > 0 else 0,
                      seconds=stats.seconds, eta_seconds=self.ctx.progress.eta_seconds(), **extra)
        if not math.isfinite(stats.train_loss):
            raise Diverged(f"round {step.index}, epoch {epoch} (repeat {self.repeat}): the training loss "
                           f"is {stats.train_loss} at learning rate {stats.lr:.3g}; the run stopped. Finished "
                           "rounds are kept; a smaller training.lr or weight_decay may help")
        checkpoints = dict(step.checkpoints)
        if epoch in checkpoints:
            self.files.save_weights(checkpoints[epoch], snapshot(self.model))

    def reevaluate(self, stats: EpochStats) -> EpochStats:
        """``stats`` with the test loss and accuracy of the network under the current masks."""
        self.mask_weights(self.masks)
        loss, acc = evaluate(self.model, self.data, self.config.training.eval_batch_size)
        return dataclasses.replace(stats, test_loss=loss, test_accuracy=acc)

    def finish_round(self, step: RoundPlan, history: list[EpochStats], **extra: Any) -> None:
        """Save the round's masks and weights, emit its ``round`` event, then commit it (the resume
        point). The event carries the effective sparsity (weights disconnected by downstream
        pruning counted as pruned; None where the architecture is not a plain chain), and for a
        round that pruned before training the LR policy (with ALLR's d) and the weight stability."""
        from .analysis.connectivity import round_effective_fields
        from .analysis.stability import round_stability_fields

        alive, total = count_alive(self.masks)
        mask_path = self.files.save_masks(step.index, self.masks)
        weights = self.files.round_weights(step.index)
        self.files.save_weights(weights, snapshot(self.model))
        fields: dict[str, Any] = {}
        if step.prune is not None and not step.prune_after:
            policy = step.lr.policy.plugin_name
            if policy != "replay":
                fields.update(lr_policy=policy, allr_d=self.d if step.lr.scaled else None,
                              allr_d1=self.d1 if step.lr.scaled else None)
            if self._before_pruning is not None and self.files.has_weights("round_000"):
                fields.update(round_stability_fields(self._before_pruning, self.model.state_dict(),
                                                     self.saved_state("round_000"), self.masks))
        fields.update(extra)
        self.ctx.emit("round", repeat=self.repeat, seed=self.seed, round=step.index, sparsity=1.0 - alive / total,
                      remaining_fraction=alive / total, remaining_weights=alive, total_weights=total,
                      test_accuracy=history[-1].test_accuracy,
                      best_test_accuracy=max(h.test_accuracy for h in history),
                      retrain_epochs=len(history), cumulative_epochs=step.cumulative,
                      seconds=sum(h.seconds for h in history), layer_sparsity=layer_sparsity(self.masks),
                      flops=self.flops.nonzero(self.masks), dense_flops=self.flops.total,
                      **footprint_bytes(self.model, self.masks),
                      mask_file=str(mask_path.relative_to(self.ctx.run_dir.root)),
                      **round_effective_fields(self.model, self.masks), **fields)
        following = [r for r in self.plan.rounds if r.index > step.index]
        keep_optimizer = step.optimizer == "shared" and following and following[0].optimizer == "shared"
        if keep_optimizer:
            self.files.save_optimizer(step.index, self.optimizer.state_dict())
        self.files.commit({"round": step.index, "weights": weights, "cumulative_epochs": step.cumulative,
                           "pruner": self.pruner.state_dict(), "memo": self.memo})
        self.d, self.d1, self._before_pruning = None, None, None


def open_repeat(ctx: RunContext, repeat: int) -> tuple[RepeatRun, SharedDense, int | None]:
    """A repeat ready for its rounds: (run, its round-0 sharing, the last round already done).

    Resumed after its last committed round if asked, else round 0 reused from the job that
    published it, else started fresh (``done`` None: every round is still to run)."""
    shared = SharedDense(ctx, repeat)
    if shared.key is not None:
        ctx = dataclasses.replace(ctx, emit=shared.recording(ctx.emit))
    run = RepeatRun(ctx, repeat)
    done = run.resume() if ctx.resume else None
    if done is None:
        done = shared.reuse(run)
    if done is None:
        run.start()
    return run, shared, done


def run_repeat(ctx: RunContext, repeat: int) -> None:
    """One repeat: every planned round through the algorithm's hooks, resuming if asked, and
    with round 0 reused from another job or published for others where it can be shared."""
    algorithm = ctx.config.algorithm
    run, shared, done = open_repeat(ctx, repeat)
    for step in ctx.plan.rounds:
        if done is None or step.index > done:
            algorithm.run_round(run, step)
            if step.index == 0:
                shared.publish(run)
    algorithm.finish(run)
