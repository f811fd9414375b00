"""The plan of a run, epoch by epoch, for the previews and the live schedule charts (no torch).

:func:`run_plan` lays every epoch of one repeat end to end with its round, its planned global
sparsity and the learning rate the training loop will use, from a validated Config:

* rounds (imp, one_shot, bimp): round 0 trains T (BIMP: T0) epochs dense, round r retrains
  ``retrain_epochs(r)`` epochs at the planned sparsity 1 − (1 − p)^r;
* one gradual run (asni, gradual): round e is epoch e, trained at the sparsity p_{e−1} reached
  after the previous epoch (ASNI-II's two retrainings, rounds E + 1 and E + 2, follow at p_E).

The sparsity schedules and the LR schedule are the engine's own torch-free functions
(:mod:`pruning_core.schedules`), so previews draw exactly what the run will do. The LR of an IMP
round: WR and LRR replay η(t) from epoch k, FT holds the last η. Where the engine's retraining
policy has no torch-free form yet (the BIMP paper's lrw/slr/clr/llr/allr, BIMP's budget run) the
LR is left out (``None``) rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pruning_core.config import Config
from pruning_core.schedules import LRSchedule

SAMPLES_PER_EPOCH = 20
GRADUAL = ("asni", "gradual")


@dataclass(frozen=True)
class EpochPlan:
    """One epoch of a run laid end to end: its global index, round, sparsity and LR samples."""

    index: int                 # 0-based position over the whole run (all rounds)
    round: int
    sparsity: float            # planned global sparsity while this epoch trains
    lr_t: list[float]          # sample positions (global epochs, fractional)
    lr: list[float | None]     # η at those positions (None: not previewable yet)


def lr_known(config: Config) -> bool:
    """Whether :func:`run_plan` can draw the LR of every epoch of this config."""
    return config.algorithm.name != "bimp" and not config.keeps_weights_with_policy


def _segments(config: Config) -> list[tuple[int, int, int, list[float]]]:
    """(round, first schedule epoch, epochs, sparsity while each epoch trains) of one repeat, in
    the rounds the engine's events use: IMP round 0 = dense T epochs, round r = its retraining;
    asni/gradual round e = epoch e (trained at p_{e−1}, p_0 = 0), ASNI-II rounds E+1 and E+2."""
    planned = config.planned_sparsity()
    a, T = config.algorithm, config.training.epochs
    if a.name in GRADUAL:
        before = [0.0] + list(planned[:-1])
        segments = [(e, e - 1, 1, [before[e - 1]]) for e in range(1, T + 1)]
        if a.name == "asni" and a.amenable:
            segments += [(T + 1, 0, T, [planned[-1]] * T), (T + 2, 0, T, [planned[-1]] * T)]
        return segments
    k = a.rewind_epoch if a.name in ("imp", "one_shot") else 0
    return [(r, 0 if r == 0 else k, config.retrain_epochs(r), [planned[r]] * config.retrain_epochs(r))
            for r in range(config.n_rounds + 1)]


def _round_lr(config: Config, schedule: LRSchedule, round_index: int, steps: int):
    """η(t) that round ``round_index`` trains with, or None where it cannot be previewed."""
    a = config.algorithm
    if a.name == "bimp" or (round_index > 0 and a.name not in GRADUAL and not lr_known(config)):
        return None
    if round_index > 0 and a.name not in GRADUAL and a.rewind == "none":
        last = schedule.last_lr(steps)
        return lambda t: last
    return lambda t: schedule(t, steps)


def run_plan(config: Config, steps_per_epoch: int = 1, samples: int = SAMPLES_PER_EPOCH) -> list[EpochPlan]:
    """Every epoch of one repeat: round, planned sparsity and the LR the loop will use."""
    schedule = LRSchedule(config.training)
    plan, index = [], 0
    for r, start, epochs, sparsity in _segments(config):
        lr_at = _round_lr(config, schedule, r, steps_per_epoch)
        for e in range(epochs):
            ts = [(start + e) + i / samples for i in range(samples)]
            plan.append(EpochPlan(index, r, sparsity[e], [index + i / samples for i in range(samples)],
                                  [lr_at(t) if lr_at else None for t in ts]))
            index += 1
    return plan


imp_plan = run_plan


def lr_curve(plan: list[EpochPlan]) -> tuple[list[float], list[float | None]]:
    """(global epochs, η) of a plan, for :func:`ui.figures.lr_schedule`."""
    return [t for p in plan for t in p.lr_t], [v for p in plan for v in p.lr]


def lr_policies(config: Config, steps_per_epoch: int = 1, samples: int = SAMPLES_PER_EPOCH) -> dict[str, tuple]:
    """LR over the whole run, per retraining policy: {label: (global epochs, lr)}."""
    labels = {"weights": "WR / LRR: replay η from epoch k", "none": "FT: constant last η"}
    out = {}
    for rewind, label in labels.items():
        variant = config.replace(**{"algorithm.rewind": rewind, "algorithm.lr_policy": "default"})
        out[label] = lr_curve(run_plan(variant, steps_per_epoch, samples))
    return out


def round_offsets(config: Config) -> dict[int, int]:
    """{round: global epoch at which it starts} (rounds laid end to end)."""
    offsets, at = {}, 0
    for r, _, epochs, _ in _segments(config):
        offsets[r] = at
        at += epochs
    return offsets


def global_epochs(config: Config, rounds, epochs) -> list[int | None]:
    """For epoch events (round r, 1-based epoch e): the global epoch at their end, offset(r) + e
    (None for a round the plan does not know)."""
    offsets = round_offsets(config)
    return [offsets[int(r)] + int(e) if int(r) in offsets else None for r, e in zip(rounds, epochs)]
