"""The round loop for several repeats at once: ``run_repeat`` for N repeats, in lockstep.

:func:`run_repeats_together` is :func:`pruning_core.loop.run_repeat` for a list of repeats of one
job: the same preamble per repeat (dense sharing, resume, ``start``), then round by round every
repeat that still needs the round prunes and treats its weights, the repeats train the round
together (:class:`~.group.SeedGroup`), and each records its round (``finish_round``). A round the
group cannot batch (ALLR's d differs between the repeats; fewer than two repeats need it) is
trained repeat by repeat with ``RepeatRun.train``, exactly as ``run_repeat`` would.

Only algorithms that use the shared ``Algorithm.run_round`` (prune → treat → train →
finish_round: IMP/AIMP, one-shot, at-init, BIMP, retraining) can run in lockstep; ASNI and gradual
pruning override ``run_round`` and are refused (:class:`~.checks.NotBatchable`), so the caller
runs them with ``run_repeat``.

Differences from running the repeats one after the other: the events of the repeats interleave
(round by round instead of repeat by repeat), and a diverging repeat stops the job while the
other repeats are at the same round (one by one, the earlier repeats would have finished).
"""

from __future__ import annotations

from typing import Sequence

from ..algorithms.base import Algorithm
from ..loop import RepeatRun, RunContext, open_repeat
from .checks import NotBatchable
from .group import SeedGroup


def check_lockstep(ctx: RunContext) -> None:
    """Raise :class:`NotBatchable` when this job's algorithm cannot run its repeats in lockstep."""
    algorithm = ctx.config.algorithm
    if type(algorithm).run_round is not Algorithm.run_round:
        raise NotBatchable(f"algorithm {getattr(algorithm, 'plugin_name', type(algorithm).__name__)} has its own "
                           "run_round (training in the middle of its round); its repeats run one by one")


def run_repeats_together(ctx: RunContext, repeats: Sequence[int]) -> None:
    """Every planned round of every repeat in ``repeats``, training the repeats together."""
    check_lockstep(ctx)
    algorithm = ctx.config.algorithm
    opened = [open_repeat(ctx, repeat) for repeat in repeats]      # run_repeat's preamble, per repeat
    runs = [run for run, _, _ in opened]
    shares = [shared for _, shared, _ in opened]
    done = [d for _, _, d in opened]
    groups: dict[tuple[int, ...], SeedGroup] = {}
    for step in ctx.plan.rounds:
        active = [i for i, d in enumerate(done) if d is None or step.index > d]
        for i in active:
            run = runs[i]
            if step.prune is not None and not step.prune_after:
                run.prune(step)
            if step.treatment is not None:
                run.treat(step.treatment)
        histories = _train_round([runs[i] for i in active], step, groups)
        for i, history in zip(active, histories):
            runs[i].finish_round(step, history)
            if step.index == 0:
                shares[i].publish(runs[i])
    for run in runs:
        algorithm.finish(run)


def _train_round(runs: list[RepeatRun], step, groups: dict[tuple[int, ...], SeedGroup]):
    """The round's training for these repeats: together when it can, else one by one."""
    if len(runs) >= 2:
        key = tuple(r.repeat for r in runs)
        try:
            if key not in groups:
                groups[key] = SeedGroup(runs)
            return groups[key].train(step)
        except NotBatchable:
            groups.pop(key, None)        # its stacked optimizer (if any) is stale after one-by-one rounds
    return [run.train(step) for run in runs]
