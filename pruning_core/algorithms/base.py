"""What every algorithm is: a frozen dataclass of its options with ``plan`` and round hooks.

An algorithm says *what* a run does in :meth:`Algorithm.plan` (a :class:`~pruning_core.plan.Plan`:
every round with its pruning step, weight treatment, epochs and LR) and the shared round loop
(:mod:`pruning_core.loop`) does it, calling :meth:`Algorithm.run_round` for each planned round.
The default round is the lottery-ticket round — prune, treat the weights, train, record — so most
algorithms only write ``plan``. One that orders a round differently overrides ``run_round``
(gradual pruning prunes after training); one that reports more overrides ``finish``.

Algorithm modules import no torch at import time (the app calls ``plan`` to draw previews): the
round hooks act through the ``run`` object the loop passes in.
"""

from __future__ import annotations

from typing import ClassVar

from ..config.fields import FieldError
from ..plan import Plan, RoundPlan


class Algorithm:
    """Base of a registered algorithm; its options are the dataclass fields of the subclass.

    ``suggests``: values other fields take when a config choosing this algorithm does not give
    them. ``uses_pruner_rates``: whether the pruner's per-round rates (conv/dense/output rate)
    can act; algorithms on a sparsity schedule only accept null or 0 (leave those layers dense).
    """

    suggests: ClassVar[dict] = {}
    uses_pruner_rates: ClassVar[bool] = True

    def plan(self, config) -> Plan:
        """Every round one repeat will run (the single source of what a run does)."""
        raise NotImplementedError

    def check(self, config) -> list[FieldError]:
        """Constraints between this algorithm's options and the rest of the config."""
        return []

    # ---- hooks the shared loop calls ----------------------------------------------------------

    def run_round(self, run, step: RoundPlan) -> None:
        """One round: prune (unless the round prunes after training), treat the weights, train,
        then record the round (masks, weights, ``round`` event, commit point)."""
        if step.prune is not None and not step.prune_after:
            run.prune(step)
        if step.treatment is not None:
            run.treat(step.treatment)
        history = run.train(step)
        run.finish_round(step, history)

    def finish(self, run) -> None:
        """After the last round of a repeat (e.g. a summary event)."""
