"""Seed batching: N copies of one architecture trained as one batched model (issue 11).

* :mod:`.stack`   — N models → one functional model (stacked parameters, ``vmap``), stacked masks;
* :mod:`.checks`  — what can be batched: elementwise optimizers, buffer- and dropout-free models;
* :mod:`.trainer` — train and evaluate the N copies together, each with its own data order, masks
  and optimizer state, equal to :func:`pruning_core.train.train_epochs` run one by one;
* :mod:`.optim_state` — per-copy optimizer states ↔ one optimizer over the stacked parameters;
* :mod:`.group`   — ``RepeatRun.train`` for several repeats at the same round (:class:`~.group.SeedGroup`);
* :mod:`.driver`  — ``run_repeat`` for several repeats in lockstep, of one job or of a sweep's lockstep peers
  (:func:`~.driver.run_jobs_together`), each job ending on its own;
* :mod:`.policy`  — whether batching pays on a device (measured).

``group``, ``driver`` and ``policy`` import the round loop; import them as submodules.
"""

from .checks import NotBatchable, check_batchable_model, check_elementwise_optimizer
from .stack import StackedModel, stack_masks
from .trainer import evaluate_stacked, train_stacked

__all__ = ["NotBatchable", "StackedModel", "check_batchable_model", "check_elementwise_optimizer",
           "evaluate_stacked", "stack_masks", "train_stacked"]
