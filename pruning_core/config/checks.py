"""Constraints between fields of a config; each error names the field to change.

The shared sections' constraints live here; every chosen plug-in (algorithm, score, selection,
schedule, LR policy) adds its own through its ``check(config)`` method.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

from ..catalog import SKIP_CONNECTIONS
from .fields import FieldError, is_choice


def chosen_plugins(section: Any) -> Iterator[Any]:
    """Every plug-in instance in a config tree (the algorithm, the score, its LR policy …)."""
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if is_choice(f):
            yield value
            yield from chosen_plugins(value)
        elif dataclasses.is_dataclass(value):
            yield from chosen_plugins(value)


def cross_checks(c) -> list[FieldError]:
    """Constraints between fields of the shared sections, then each chosen plug-in's own."""
    errors: list[FieldError] = []
    tr, pr = c.training, c.pruner
    T = tr.epochs
    if any(m <= 0 or m >= T for m in tr.milestones) or tr.milestones != sorted(set(tr.milestones)):
        errors.append(FieldError("training.milestones", tr.milestones,
                                 f"increasing epochs strictly between 0 and training.epochs ({T})"))
    elif tr.lr_schedule == "step" and not tr.milestones:
        errors.append(FieldError("training.milestones", tr.milestones,
                                 f"at least one epoch in (0, {T}) for the step schedule (without one it is constant)"))
    if tr.warmup_epochs >= T:
        errors.append(FieldError("training.warmup_epochs", tr.warmup_epochs,
                                 f"a number of epochs < training.epochs ({T})"))
    if tr.optimizer == "sgd" and tr.nesterov and tr.momentum == 0:
        errors.append(FieldError("training.nesterov", True, "false when training.momentum is 0 (Nesterov needs momentum)"))
    if pr.unit == "output_filter" and c.model.name in SKIP_CONNECTIONS:
        errors.append(FieldError("pruner.unit", pr.unit,
                                 "weight, input_channel or hybrid for ResNets: filter pruning needs a plain "
                                 "chain of layers (skip connections share channels)"))
    if pr.unit == "hybrid" and pr.layers != "all":
        errors.append(FieldError("pruner.layers", pr.layers, "all: hybrid prunes convs and linear layers"))
    device = c.device
    if not (device in ("auto", "cpu", "cuda", "mps") or (device.startswith("cuda:") and device[5:].isdigit())):
        errors.append(FieldError("device", device, "auto, cpu, cuda, cuda:N or mps"))
    for plugin in chosen_plugins(c):
        check = getattr(plugin, "check", None)
        if check is not None:
            errors.extend(check(c))
    return errors
