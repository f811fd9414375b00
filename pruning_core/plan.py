"""What a run will do, round by round: the :class:`Plan` an algorithm returns from ``plan(config)``.

The plan is the single source of a run's shape. The shared round loop executes it (each
:class:`RoundPlan` is one round: prune, treat the weights, train, record), and the previews,
``describe``, progress, ETA and the Schedules page read it; a contract test holds the loop to it.
Everything here is torch-free.

Rounds are numbered as the events number them: round 0 is the dense training (when the algorithm
has one), round r ≥ 1 the r-th pruning round; gradual algorithms make each epoch a round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .schedules import LRSchedule


@dataclass(frozen=True)
class PruneStep:
    """What the pruner is asked in a round.

    * ``fraction``: remove ⌊p·n_alive + ½⌋ of the alive units of each layer group (p = value);
    * ``to_sparsity``: prune each group to exactly ⌊s·n + ½⌋ pruned of its n weights (s = value).
    """

    kind: str
    value: float

    @staticmethod
    def fraction(p: float) -> "PruneStep":
        return PruneStep("fraction", p)

    @staticmethod
    def to_sparsity(s: float) -> "PruneStep":
        return PruneStep("to_sparsity", s)


@dataclass(frozen=True)
class LREnv:
    """What an LR policy reads: the original schedule η(t) over T epochs, the iterations per epoch
    n, this round's epochs T_rt, where in the original schedule the round starts, and ALLR's d."""

    schedule: LRSchedule
    steps: int
    epochs: int
    start: int = 0
    d: float = 1.0

    @property
    def T(self) -> int:
        return self.schedule.config.epochs

    @property
    def eta1(self) -> float:
        return self.schedule.config.lr

    def eta(self, t: float) -> float:
        """η(t) of the original training run at fractional epoch t."""
        return self.schedule(t, self.steps)


@dataclass(frozen=True)
class LRPlan:
    """The learning rate of one round: an LR policy (:mod:`pruning_core.lr_policies`) over the
    round's epochs, which train epochs ``start`` … ``start + epochs − 1`` of the schedule."""

    policy: Any
    epochs: int
    start: int = 0

    def function(self, schedule: LRSchedule, steps: int, d: float = 1.0) -> Callable[[float], float]:
        """η(t) for t = schedule epoch + i/n, the position the training loop passes."""
        env = LREnv(schedule, steps, self.epochs, self.start, d)
        return lambda t: self.policy.lr(t, env)

    @property
    def scaled(self) -> bool:
        """Whether the LR is multiplied by a factor measured at run time (ALLR's d)."""
        return bool(getattr(self.policy, "needs_discount", False))


@dataclass(frozen=True)
class RoundPlan:
    """One round of one repeat.

    * ``prune``: the pruning step (None: none); ``prune_after``: after training instead of before
      (gradual pruning raises the sparsity at the end of each epoch);
    * ``treatment``: where the weights restart from after pruning (a registered treatment, or a
      name the algorithm's own ``run_round`` interprets);
    * ``epochs`` and ``lr``: what is trained; ``optimizer``: "fresh" for a new optimizer, "shared"
      to keep one optimizer across consecutive shared rounds;
    * ``training_sparsity``: the planned global sparsity while it trains; ``sparsity``: after the
      round (None where the pruner decides at run time, e.g. a threshold);
    * ``cumulative``: the search cost reported after the round; ``search``: whether the round
      belongs to the pruning trajectory (an evaluation variant such as ASNI-II does not);
    * ``checkpoints``: ``(epochs trained, name)``: save the full state under ``name`` once that
      many epochs of this round are done (0 = before training), e.g. the rewind point θ_k.
    """

    index: int
    epochs: int
    lr: LRPlan
    training_sparsity: float | None = 0.0
    sparsity: float | None = 0.0
    prune: PruneStep | None = None
    prune_after: bool = False
    treatment: str | None = None
    optimizer: str = "fresh"
    cumulative: int = 0
    search: bool = True
    variant: str | None = None
    checkpoints: tuple[tuple[int, str], ...] = ()

    @property
    def dense(self) -> bool:
        """Round 0 trains the dense network, with no mask."""
        return self.index == 0

    def schedule_epochs(self) -> list[int]:
        """Positions in the original schedule of the epochs this round trains."""
        return [self.lr.start + e for e in range(self.epochs)]


@dataclass(frozen=True)
class EpochPlan:
    """One epoch of a repeat laid end to end: global index, round, sparsity and LR samples."""

    index: int
    round: int
    sparsity: float | None
    lr_t: list[float]
    lr: list[float]


@dataclass(frozen=True)
class Plan:
    """Every round of one repeat, plus what the analyses need to know of the algorithm.

    ``rate``: the nominal per-round rate p (None where there is none); ``epoch_rounds``: each
    round is one epoch of a single run (gradual pruning); ``headline``: one line for the CLI.
    """

    rounds: tuple[RoundPlan, ...]
    rate: float | None = None
    epoch_rounds: bool = False
    headline: str = ""

    def round(self, index: int) -> RoundPlan:
        return next(r for r in self.rounds if r.index == index)

    def total_epochs(self) -> int:
        """Every epoch one repeat trains (evaluation variants included)."""
        return sum(r.epochs for r in self.rounds)

    def epochs_through(self, index: int) -> int:
        """Epochs one repeat has trained once round ``index`` is finished (rounds in plan order)."""
        done = 0
        for r in self.rounds:
            done += r.epochs
            if r.index == index:
                return done
        raise KeyError(f"the plan has no round {index}")

    def search_cost(self) -> int:
        """Epochs spent finding the final mask beyond the dense training (the AIMP paper's
        measure): the cumulative count after the last round of the pruning trajectory."""
        return max((r.cumulative for r in self.rounds if r.search), default=0)

    def sparsity(self) -> list[float | None]:
        """Planned global sparsity after each round of the trajectory."""
        return [r.sparsity for r in self.rounds if r.search]

    def round_offsets(self) -> dict[int, int]:
        """{round: global epoch at which it starts} (rounds laid end to end)."""
        offsets, at = {}, 0
        for r in self.rounds:
            offsets[r.index] = at
            at += r.epochs
        return offsets

    def epochs(self, training, steps_per_epoch: int = 1, samples: int = 20) -> list[EpochPlan]:
        """Every epoch laid end to end with its round, its planned sparsity while it trains and
        the LR at ``samples`` points (ALLR drawn at d = 1, its largest value)."""
        schedule = LRSchedule(training)
        out, index = [], 0
        for r in self.rounds:
            lr_at = r.lr.function(schedule, steps_per_epoch)
            for e in r.schedule_epochs():
                ts = [e + i / samples for i in range(samples)]
                out.append(EpochPlan(index, r.index, r.training_sparsity,
                                     [index + i / samples for i in range(samples)], [lr_at(t) for t in ts]))
                index += 1
        return out

    def global_epochs(self, rounds, epochs) -> list[int | None]:
        """For epoch events (round r, 1-based epoch e): the global epoch at their end, offset(r) + e."""
        offsets = self.round_offsets()
        return [offsets[int(r)] + int(e) if int(r) in offsets else None for r, e in zip(rounds, epochs)]
