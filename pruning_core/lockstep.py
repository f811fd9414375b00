"""Which jobs can train in lockstep, as one batched model: the lockstep key (torch-free).

Jobs train together (:mod:`pruning_core.batched`) when each of their rounds trains the same way:
the same model, dataset, training section and device, and round by round the same epochs, LR
policy, optimizer handling and checkpoints. What a round does *before and after* training — the
pruner and its rate, the weight treatment, the seed — may differ, since every job prunes, treats
and records its own repeats. So a sweep over seeds × pruners × rates at one training recipe
trains as one batched model, round after round.

:func:`lockstep_key` hashes exactly that (None for an algorithm with its own ``run_round``, whose
training happens inside its round). It is computed when a sweep is queued and stored in each job
record, so the worker finds a job's peers without parsing configs; the runner checks the key
again with the code that runs, and the lockstep driver checks the plans themselves.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

FORMAT = 1                 # bump when what a round's training depends on changes


def training_shape(step: Any) -> tuple:
    """What the lockstep shares of one :class:`~pruning_core.plan.RoundPlan`: how it trains."""
    return (step.index, step.epochs, step.lr.start, step.lr.epochs, repr(step.lr.policy), step.optimizer,
            tuple(step.checkpoints), step.prune_after)


def lockstep_key(config: Any) -> str | None:
    """The hash of everything a job's training depends on, round by round; jobs with equal keys
    can train as one batched model. None when the algorithm trains inside its own ``run_round``."""
    from .algorithms.base import Algorithm

    if type(config.algorithm).run_round is not Algorithm.run_round:
        return None
    data = config.to_dict()
    identity = {"format": FORMAT, "model": data["model"], "dataset": data["dataset"], "training": data["training"],
                "device": data["device"], "rounds": [repr(training_shape(r)) for r in config.plan().rounds]}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
