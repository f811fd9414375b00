"""The plan of a run, epoch by epoch, for the previews and the live schedule charts (no torch).

:func:`run_plan` lays every epoch of one repeat end to end with its round, its planned global
sparsity and the learning rate the training loop will use, from a validated Config:

* rounds (imp, one_shot, bimp): round 0 trains T (BIMP: T0) epochs dense, round r retrains
  ``retrain_epochs(r)`` epochs at the planned sparsity 1 − (1 − p)^r;
* one gradual run (asni, gradual): the sparsity reached after each epoch e = 1 … E (ASNI-II's two
  retrainings follow at the final sparsity).

The sparsity schedules and the LR schedule are the engine's own torch-free functions
(:mod:`pruning_core.schedules`), so previews draw exactly what the run will do. The LR of an IMP
round: WR and LRR replay η(t) from epoch k, FT holds the last η. Where the engine's retraining
policy has no torch-free form yet (the BIMP paper's lrw/slr/clr/llr/allr, BIMP's budget run) the
LR is left out (``None``) rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pruning_core import schedules as engine
from pruning_core.config import Config
from pruning_core.schedules import LRSchedule

SAMPLES_PER_EPOCH = 20
GRADUAL = ("asni", "gradual")


def geometric_sparsity(rate: float, rounds: int) -> list[float]:
    """s_r = 1 − (1 − p)^r for r = 0 … R."""
    return engine.geometric_sparsity(rate, rounds)


def sigmoid_sparsity(alpha: float, beta: float, gamma: float, epochs: int) -> list[float]:
    """ASNI: s_e = α · sigmoid((e − βE)/γ) after each epoch e = 1 … E."""
    return engine.sigmoid_schedule(alpha, beta, gamma, epochs)


def polynomial_sparsity(initial: float, final: float, start: int, end: int, epochs: int) -> list[float]:
    """Zhu & Gupta: s_e = s_f + (s_i − s_f)(1 − (e − t₀)/(t_end − t₀))³ after each epoch e = 1 … E."""
    return engine.polynomial_schedule(initial, final, start, end, epochs)


@dataclass(frozen=True)
class EpochPlan:
    """One epoch of a run laid end to end: its global index, round, sparsity and LR samples."""

    index: int                 # 0-based position over the whole run (all rounds)
    round: int
    sparsity: float            # planned global sparsity while this epoch trains (gradual: after it)
    lr_t: list[float]          # sample positions (global epochs, fractional)
    lr: list[float | None]     # η at those positions (None: not previewable yet)


def lr_known(config: Config) -> bool:
    """Whether :func:`run_plan` can draw the LR of every epoch of this config."""
    return config.algorithm.name != "bimp" and not config.keeps_weights_with_policy


def _round_lr(config: Config, schedule: LRSchedule, round_index: int, steps: int):
    """(first schedule epoch, η(t) or None) that round ``round_index`` trains with."""
    a = config.algorithm
    if round_index == 0 or a.name in GRADUAL:
        return 0, (lambda t: schedule(t, steps)) if a.name != "bimp" else None
    if not lr_known(config):
        return 0, None
    if a.rewind == "none":
        last = schedule.last_lr(steps)
        return a.rewind_epoch, lambda t: last
    return a.rewind_epoch, lambda t: schedule(t, steps)


def _segments(config: Config) -> list[tuple[int, int, list[float]]]:
    """(round, epochs, sparsity of each epoch) for every round of one repeat."""
    planned = config.planned_sparsity()
    T = config.training.epochs
    if config.algorithm.name in GRADUAL:
        segments = [(0, T, list(planned))]
        if config.algorithm.name == "asni" and config.algorithm.amenable:
            segments += [(1, T, [planned[-1]] * T), (2, T, [planned[-1]] * T)]
        return segments
    return [(r, config.retrain_epochs(r), [planned[r]] * config.retrain_epochs(r))
            for r in range(config.n_rounds + 1)]


def run_plan(config: Config, steps_per_epoch: int = 1, samples: int = SAMPLES_PER_EPOCH) -> list[EpochPlan]:
    """Every epoch of one repeat: round, planned sparsity and the LR the loop will use."""
    schedule = LRSchedule(config.training)
    plan, index = [], 0
    for r, epochs, sparsity in _segments(config):
        start, lr_at = _round_lr(config, schedule, r, steps_per_epoch)
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


def round_offsets(config: Config) -> list[int]:
    """Global epoch at which each round starts (rounds laid end to end)."""
    offsets, at = [], 0
    for _, epochs, _ in _segments(config):
        offsets.append(at)
        at += epochs
    return offsets


def global_epochs(config: Config, rounds, epochs) -> list[int | None]:
    """For epoch events (round r, 1-based epoch e): the global epoch at their end, offset(r) + e
    (None for a round the plan does not know)."""
    offsets = round_offsets(config)
    return [offsets[int(r)] + int(e) if 0 <= int(r) < len(offsets) else None for r, e in zip(rounds, epochs)]
