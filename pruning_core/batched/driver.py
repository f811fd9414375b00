"""The round loop for several repeats at once: ``run_repeat`` for N repeats, in lockstep.

:func:`run_jobs_together` is :func:`pruning_core.loop.run_repeat` for the repeats of one job or of
several (lockstep peers of a sweep, :mod:`pruning_core.lockstep`: their rounds train alike, while
seeds, pruners, rates and treatments may differ): the same preamble per repeat (dense sharing,
resume, ``start``), then round by round every repeat that still needs the round prunes and treats
its weights as its own job's plan says, the repeats train the round together
(:class:`~.group.SeedGroup`), and each records its epochs and its round (``finish_round``) with
its own job's round plan. A round the group
cannot batch (ALLR's d differs between the repeats; fewer than two repeats need it) is trained
repeat by repeat with ``RepeatRun.train``, exactly as ``run_repeat`` would.

Only algorithms that use the shared ``Algorithm.run_round`` (prune → treat → train →
finish_round: IMP/AIMP, one-shot, at-init, BIMP, retraining) can run in lockstep; ASNI and gradual
pruning override ``run_round`` and are refused (:class:`~.checks.NotBatchable`), so the caller
runs them with ``run_repeat``.

Each job ends on its own. With ``end_job``, a job that is cancelled, diverges, or fails in a step
of its own (opening, pruning, a treatment, recording an epoch or a round) is handed to
``end_job(ctx, exception)`` at once; from then on nothing more is written for it (its repeats
finish the round in the batched model, unrecorded, and leave the group at the next round), and
the other jobs go on. A failure of the shared training itself ends every job. Without
``end_job`` (one job: :func:`run_repeats_together`) the exception propagates, as from
``run_repeat``.

Differences from running the repeats one after the other: the events of the repeats interleave
(round by round instead of repeat by repeat), and a diverging repeat stops its job while the job's
other repeats are at the same round (one by one, the earlier repeats would have finished).
"""

from __future__ import annotations

from typing import Callable, Sequence

from ..algorithms.base import Algorithm
from ..lockstep import training_shape
from ..loop import RepeatRun, RunContext, open_repeat
from ..train import Cancelled
from .checks import NotBatchable
from .group import SeedGroup

EndJob = Callable[[RunContext, BaseException], None]


def check_lockstep(ctx: RunContext) -> None:
    """Raise :class:`NotBatchable` when this job's algorithm cannot run its repeats in lockstep."""
    algorithm = ctx.config.algorithm
    if type(algorithm).run_round is not Algorithm.run_round:
        raise NotBatchable(f"algorithm {getattr(algorithm, 'plugin_name', type(algorithm).__name__)} has its own "
                           "run_round (training in the middle of its round); its repeats run one by one")


def run_repeats_together(ctx: RunContext, repeats: Sequence[int]) -> None:
    """Every planned round of every repeat in ``repeats`` of one job, training them together."""
    run_jobs_together([(ctx, repeats)])


class _Job:
    """One job's part of the lockstep: its context, its open repeats, and whether it has ended."""

    def __init__(self, ctx: RunContext, repeats: Sequence[int]):
        self.ctx, self.repeats = ctx, list(repeats)
        self.runs: list[RepeatRun] = []
        self.shares: list = []
        self.done: list[int | None] = []
        self.ended = False
        self.step = None                      # the job's own plan of the current round


class _Lockstep:
    """The jobs of one :func:`run_jobs_together` call and the ending of each."""

    def __init__(self, jobs: list[_Job], end_job: EndJob | None):
        self.jobs, self.end_job = jobs, end_job
        self.job_of: dict[int, _Job] = {}            # id(RepeatRun) -> its job

    def end(self, job: _Job, exc: BaseException) -> None:
        """End ``job`` with ``exc`` (re-raised when there is no ``end_job``); once."""
        if self.end_job is None:
            raise exc
        if job.ended:
            return
        job.ended = True
        self.end_job(job.ctx, exc)

    def guarded(self, job: _Job, action: Callable[[], object]) -> None:
        """Run one job's own step; an exception from it ends that job alone."""
        try:
            action()
        except Exception as exc:             # Cancelled and Diverged included; BaseException propagates
            self.end(job, exc)

    def should_stop(self) -> bool:
        """Polled between the group's steps: ends every job whose own poll says stop; True (stop
        the group) once every job has ended."""
        for job in self.live():
            if job.ctx.should_stop():
                self.end(job, Cancelled())
        return not self.live()

    def should_stop_alone(self, job: _Job) -> Callable[[], bool]:
        """The poll while ``job`` trains by itself: every live job's own poll (so the others keep
        their heartbeat, and a Stop ends them at once), True when ``job`` has ended."""
        def poll() -> bool:
            self.should_stop()
            return job.ended
        return poll

    def record(self, run: RepeatRun, step, stats, epoch: int) -> None:
        """An epoch of ``run`` recorded with its own job's round plan (unless the job ended)."""
        job = self.job_of[id(run)]
        if not job.ended:
            self.guarded(job, lambda: run.record_epoch(job.step, stats, epoch))

    def live(self) -> list[_Job]:
        return [job for job in self.jobs if not job.ended]


def run_jobs_together(jobs: Sequence[tuple[RunContext, Sequence[int]]], end_job: EndJob | None = None) -> None:
    """Every planned round of the given repeats of each job, training them together.

    The jobs' plans must train alike round by round (:func:`~pruning_core.lockstep.training_shape`),
    and the jobs share the model, the data object and the training section (:class:`~.group.SeedGroup`
    checks those). ``end_job``: see the module docstring."""
    for ctx, _ in jobs:
        check_lockstep(ctx)
    shapes = [[training_shape(r) for r in ctx.plan.rounds] for ctx, _ in jobs]
    if any(shape != shapes[0] for shape in shapes):
        raise NotBatchable("jobs trained together need plans whose rounds train alike")
    lockstep = _Lockstep([_Job(ctx, repeats) for ctx, repeats in jobs], end_job)
    for job in lockstep.jobs:
        lockstep.guarded(job, lambda job=job: _open(job))
        for run in job.runs:
            lockstep.job_of[id(run)] = job
    groups: dict[tuple[int, ...], SeedGroup] = {}
    for k, step in enumerate(jobs[0][0].plan.rounds):
        for job in lockstep.jobs:
            job.step = job.ctx.plan.rounds[k]
        active = [(job, i) for job in lockstep.live() for i, d in enumerate(job.done) if d is None or step.index > d]
        for job, i in active:
            lockstep.guarded(job, lambda run=job.runs[i], own=job.step: _before_training(run, own))
        active = [(job, i) for job, i in active if not job.ended]
        histories = _train_round(lockstep, [job.runs[i] for job, i in active], step, groups)
        for (job, i), history in zip(active, histories):
            if job.ended or history is None:
                continue
            run, shared = job.runs[i], job.shares[i]
            lockstep.guarded(job, lambda: _finish(run, shared, job.step, history))
    for job in lockstep.live():
        for run in job.runs:
            lockstep.guarded(job, lambda run=run: job.ctx.config.algorithm.finish(run))


def _open(job: _Job) -> None:
    """``run_repeat``'s preamble for each of the job's repeats."""
    for repeat in job.repeats:
        run, shared, done = open_repeat(job.ctx, repeat)
        job.runs.append(run)
        job.shares.append(shared)
        job.done.append(done)


def _before_training(run: RepeatRun, step) -> None:
    if step.prune is not None and not step.prune_after:
        run.prune(step)
    if step.treatment is not None:
        run.treat(step.treatment)


def _finish(run: RepeatRun, shared, step, history) -> None:
    run.finish_round(step, history)
    if step.index == 0:
        shared.publish(run)


def _train_round(lockstep: _Lockstep, runs: list[RepeatRun], step, groups: dict[tuple[int, ...], SeedGroup]):
    """The round's training for these repeats: together when it can, else one by one. One
    history per repeat; None for a repeat whose job ended while training one by one."""
    if len(runs) >= 2:
        key = tuple(id(r) for r in runs)
        try:
            if key not in groups:
                groups[key] = SeedGroup(runs)
            histories = groups[key].train(step, should_stop=lockstep.should_stop, record=lockstep.record)
        except NotBatchable:
            groups.pop(key, None)        # its stacked optimizer (if any) is stale after one-by-one rounds
        except Cancelled:
            if lockstep.end_job is None or lockstep.live():
                raise
            return [None] * len(runs)    # every job was cancelled (and ended) during the round
        else:
            return histories
    histories = []
    for run in runs:
        job = lockstep.job_of[id(run)]
        history: list = []
        if not job.ended:
            poll = lockstep.should_stop_alone(job) if lockstep.end_job is not None else None
            lockstep.guarded(job, lambda: history.extend(run.train(job.step, should_stop=poll)))
        histories.append(history if history and not job.ended else None)
    return histories
