"""Several repeats (``RepeatRun``s) at the same round, trained together: ``RepeatRun.train`` for N.

:class:`SeedGroup` does for a group of repeats what :meth:`pruning_core.loop.RepeatRun.train`
does for one, with one :func:`~.trainer.train_stacked` call: the round's LR (one schedule for
all; ALLR's d must then be equal), the masks (none in a dense round), the weights masked before
the first step, checkpoint 0, one ``epoch`` event per repeat and epoch (with the run's epoch
hooks, the divergence check and the planned checkpoints), and, in ``shared``-optimizer rounds, one
stacked optimizer kept across the rounds (with each repeat's own optimizer state handed back to
its ``RepeatRun.optimizer`` after every round, which ``finish_round`` saves for resuming).

Everything else of a round stays per repeat: pruning, treatments and ``finish_round``, and the
repeat's own ``begin_round`` (masks into its weights, checkpoint 0) and ``record_epoch`` (hooks,
``epoch`` event, divergence check, checkpoints), the same calls as when it trains alone. The group
copies the modules' weights into the stacked tensors before training (:meth:`StackedModel.load_from`)
and back after every epoch (:meth:`StackedModel.write_back`), in place.
"""

from __future__ import annotations

from typing import Callable, Sequence

from ..loop import RepeatRun, round_generator
from ..plan import RoundPlan
from ..train import EpochStats, make_optimizer
from .checks import NotBatchable
from .optim_state import stack_optimizer_state, unstack_optimizer_state
from .stack import StackedModel, stack_masks
from .trainer import StackedCallbacks, train_stacked


class SeedGroup:
    """Repeats (of one job, or of lockstep peers) with one model, data and training section,
    trained as one batched model."""

    def __init__(self, runs: Sequence[RepeatRun]):
        self.runs = list(runs)
        if len(self.runs) < 2:
            raise NotBatchable("a seed group needs at least two repeats")
        first = self.runs[0]
        if any(r.data is not first.data or r.config.training != first.config.training
               or r.config.model != first.config.model for r in self.runs):
            raise NotBatchable("a seed group needs repeats of one model, dataset and training section")
        self.stacked = StackedModel([r.model for r in self.runs], name=first.config.model.name)
        self.optimizer = None          # the stacked optimizer of "shared" rounds, kept across them

    def lr_function(self, step: RoundPlan):
        """The round's LR, shared by the repeats; refused when ALLR's d differs between them."""
        first = self.runs[0]
        ds = [r.d if (step.lr.scaled and r.d is not None) else 1.0 for r in self.runs]
        if any(d != ds[0] for d in ds):
            raise NotBatchable(f"round {step.index}: ALLR's d differs between the repeats "
                               f"({', '.join(f'{d:.4g}' for d in ds)}), so their LR schedules differ")
        return step.lr.function(first.schedule, first.steps, ds[0])

    def train(self, step: RoundPlan, should_stop: Callable[[], bool] | None = None,
              record: Callable[[RepeatRun, RoundPlan, EpochStats, int], None] | None = None) -> list[list[EpochStats]]:
        """Train the round for every repeat; one history per repeat (in group order).

        ``should_stop`` (default: the first repeat's job's) is polled between steps;
        ``record(run, step, stats, epoch)`` (default ``run.record_epoch``) runs for each repeat
        after every epoch, once its weights are back in ``run.model``."""
        should_stop = should_stop or self.runs[0].ctx.should_stop
        record = record or (lambda run, step_, stats, epoch: run.record_epoch(step_, stats, epoch))
        runs, stacked = self.runs, self.stacked
        cfg = runs[0].config.training
        lr_at = self.lr_function(step)
        optimizer = None
        if step.optimizer == "shared":
            if self.optimizer is None:
                self.optimizer = make_optimizer(cfg, stacked.parameters())
                if any(r.optimizer is not None for r in runs):       # resumed: each repeat's saved state
                    if any(r.optimizer is None for r in runs):
                        raise NotBatchable(f"round {step.index}: only some repeats have a kept optimizer")
                    stack_optimizer_state(self.optimizer, [r.optimizer.state_dict() for r in runs])
            optimizer = self.optimizer
        for r in runs:                     # each repeat's masks into its weights, checkpoint 0
            r.begin_round(step)
        stacked.load_from([r.model for r in runs])
        masks = None if step.dense else stack_masks([r.masks for r in runs])
        done = [0]

        def after_epoch(all_stats: list[EpochStats]) -> None:
            done[0] += 1
            stacked.write_back([r.model for r in runs])
            for r, stats in zip(runs, all_stats):
                record(r, step, stats, done[0])

        histories = train_stacked(stacked, runs[0].data, cfg, step.schedule_epochs(), lr_at,
                                  [round_generator(r.seed, step.index) for r in runs], masks=masks,
                                  optimizer=optimizer,
                                  callbacks=StackedCallbacks(should_stop=should_stop,
                                                             after_epoch=after_epoch))
        stacked.write_back([r.model for r in runs])
        if optimizer is not None:           # each repeat's own state, for finish_round to save
            for i, r in enumerate(runs):
                if r.optimizer is None:
                    r.optimizer = make_optimizer(cfg, r.model.parameters())
                r.optimizer.load_state_dict(unstack_optimizer_state(optimizer, i))
        return histories
