"""Constraints between fields of a config; each error names the field to change.

The shared sections' constraints live here; every chosen plug-in (algorithm, score, selection,
schedule, LR policy) adds its own through its ``check(config)`` method.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

from ..catalog import CONV_FREE, SKIP_CONNECTIONS
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
    if pr.grouping == "per_type" and pr.selection.plugin_name == "fraction":
        if pr.layers != "all" or c.model.name in CONV_FREE:
            errors.append(FieldError("pruner.grouping", pr.grouping, "global or local: only one kind of layer is "
                                     "pruned here, so per_type would be one group, the same as global"))
        elif pr.unit == "hybrid" and pr.conv_rate is None and pr.dense_rate is None:
            errors.append(FieldError("pruner.grouping", pr.grouping, "global or local: hybrid already ranks convs "
                                     "apart from linear layers; per_type differs only with conv_rate or dense_rate"))
    if c.model.name in CONV_FREE:
        model = c.model.name
        if pr.layers != "all":
            errors.append(FieldError("pruner.layers", pr.layers, f"all: {model} has no conv layer, so 'linear' is "
                                     "all of its layers and 'conv' none"))
        if pr.conv_rate is not None:
            errors.append(FieldError("pruner.conv_rate", pr.conv_rate, f"null: {model} has no conv layer"))
        if pr.unit == "hybrid":
            errors.append(FieldError("pruner.unit", pr.unit, f"weight or input_channel: {model} has no conv layer, "
                                     "and hybrid prunes convs by channel and linear layers by weight"))
    device = c.device
    if not (device in ("auto", "cpu", "cuda", "mps") or (device.startswith("cuda:") and device[5:].isdigit())):
        errors.append(FieldError("device", device, "auto, cpu, cuda, cuda:N or mps"))
    for plugin in chosen_plugins(c):
        check = getattr(plugin, "check", None)
        if check is not None:
            errors.extend(check(c))
    return errors
