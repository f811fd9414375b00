"""Schedule arithmetic for the previews and the playground: pure functions of numbers, no torch.

* :func:`sigmoid_sparsity`: ASNI's s_e = α · sigmoid((e − βE) / γ) for epochs e = 0 … E
  (Gharatappeh et al., figure 3).
* :func:`polynomial_sparsity`: Zhu & Gupta's s_t = s_f + (s_i − s_f)(1 − t/n)³ for t = 0 … n.
* :func:`geometric_sparsity`: IMP's s_r = 1 − (1 − p)^r after rounds r = 0 … R.
* :func:`imp_plan`: the sparsity and the learning rate of every epoch of an IMP/AIMP run, laid end
  to end (round 0 = dense training, then every round's retraining), from a validated Config.
* :func:`lr_policies`: the LR over a whole IMP run for weight rewinding / LR rewinding (replay the
  original schedule from epoch k) and fine-tuning (constant last LR).

The LR itself comes from the engine's :class:`pruning_core.schedules.LRSchedule` (torch-free), so
the previews draw exactly the schedule the training loop follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pruning_core.config import Config
from pruning_core.schedules import LRSchedule

SAMPLES_PER_EPOCH = 20


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def sigmoid_sparsity(alpha: float, beta: float, gamma: float, epochs: int) -> list[float]:
    """s_e = α · sigmoid((e − βE)/γ) for e = 0 … E (α: final level, β: midpoint as a fraction of
    E, γ: width in epochs)."""
    return [alpha * sigmoid((e - beta * epochs) / gamma) for e in range(epochs + 1)]


def polynomial_sparsity(initial: float, final: float, steps: int, power: int = 3) -> list[float]:
    """s_t = s_f + (s_i − s_f)(1 − t/n)^3 for t = 0 … n (Zhu & Gupta's gradual pruning)."""
    return [final + (initial - final) * (1.0 - t / steps) ** power for t in range(steps + 1)]


def geometric_sparsity(rate: float, rounds: int) -> list[float]:
    """s_r = 1 − (1 − p)^r for r = 0 … R (IMP removes a fraction p of the survivors per round)."""
    return [1.0 - (1.0 - rate) ** r for r in range(rounds + 1)]


@dataclass(frozen=True)
class EpochPlan:
    """One epoch of a run laid end to end: its global index, round, sparsity and LR samples."""

    index: int                 # 0-based position over the whole run (all rounds)
    round: int
    sparsity: float            # planned global sparsity while this epoch trains
    lr_t: list[float]          # sample positions (global epochs, fractional)
    lr: list[float]            # η at those positions


def _round_lr(config: Config, schedule: LRSchedule, round_index: int, steps: int):
    """(first schedule epoch, η(t) function) that round ``round_index`` trains with."""
    if round_index == 0:
        return 0, lambda t: schedule(t, steps)
    k = config.algorithm.rewind_epoch
    if config.algorithm.rewind == "none":
        last = schedule.last_lr(steps)
        return k, lambda t: last
    return k, lambda t: schedule(t, steps)


def imp_plan(config: Config, steps_per_epoch: int = 1, samples: int = SAMPLES_PER_EPOCH) -> list[EpochPlan]:
    """Every epoch of the run (one repeat): round, planned sparsity and the LR the loop will use."""
    schedule = LRSchedule(config.training)
    sparsity = config.planned_sparsity()
    plan, index = [], 0
    for r in range(config.algorithm.rounds + 1):
        start, lr_at = _round_lr(config, schedule, r, steps_per_epoch)
        for e in range(config.retrain_epochs(r)):
            ts = [(start + e) + i / samples for i in range(samples)]
            plan.append(EpochPlan(index, r, sparsity[r], [index + i / samples for i in range(samples)],
                                  [lr_at(t) for t in ts]))
            index += 1
    return plan


def lr_policies(config: Config, steps_per_epoch: int = 1, samples: int = SAMPLES_PER_EPOCH) -> dict[str, tuple]:
    """LR over the whole run, per retraining policy: {label: (global epochs, lr)}."""
    labels = {"weights": "WR / LRR: replay η from epoch k", "none": "FT: constant last η"}
    out = {}
    for rewind, label in labels.items():
        variant = config.replace(**{"algorithm.rewind": rewind})
        plan = imp_plan(variant, steps_per_epoch, samples)
        out[label] = ([t for p in plan for t in p.lr_t], [v for p in plan for v in p.lr])
    return out


def total_epochs(config: Config) -> int:
    """Epochs one repeat trains: the dense T plus the search cost."""
    return config.training.epochs + config.search_cost()


def round_offsets(config: Config) -> list[int]:
    """Global epoch at which each round 0 … R starts (rounds laid end to end)."""
    offsets, at = [], 0
    for r in range(config.algorithm.rounds + 1):
        offsets.append(at)
        at += config.retrain_epochs(r)
    return offsets


def global_epochs(config: Config, rounds, epochs) -> list[int]:
    """For epoch events (round r, 1-based epoch e): the global epoch at their end, offset(r) + e."""
    offsets = round_offsets(config)
    return [offsets[int(r)] + int(e) if int(r) < len(offsets) else None for r, e in zip(rounds, epochs)]
