"""Constraints between fields of a config; each error names the field to change.

The shared sections' constraints live here; every chosen plug-in (algorithm, score, selection,
schedule, LR policy) adds its own through its ``check(config)`` method. Then the limits that
keep a valid config runnable: a pruner that reaches some layer, seeds within the generator's
range, a device name torch parses, a data dir without ``..`` or control characters, and a plan
of at most :data:`MAX_TOTAL_EPOCHS` epochs (whose arithmetic does not overflow).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterator

from ..catalog import CONV_FREE, INPUT_SIZE, MIN_INPUT_SIZE, SKIP_CONNECTIONS, models_fitting
from .fields import FieldError, is_choice
from .layers import reach

SEED_MAX = 2**32 - 1
"""The largest seed: the engine seeds round r with ``seed · 1000003 + r``, within torch's 64-bit
generator for every 32-bit seed."""
MAX_TOTAL_EPOCHS = 100_000
"""The most epochs one config may plan, every repeat included."""
DEVICE = re.compile(r"auto|cpu|cuda|cuda:(0|[1-9][0-9]{0,3})|mps", re.ASCII)
"""Device names torch parses (ASCII digits, no leading zero); whether this machine has the device
is checked when a run starts (:func:`pruning_core.devices.resolve_device`)."""


def chosen_plugins(section: Any) -> Iterator[Any]:
    """Every plug-in instance in a config tree (the algorithm, the score, its LR policy …)."""
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if is_choice(f):
            yield value
            yield from chosen_plugins(value)
        elif dataclasses.is_dataclass(value):
            yield from chosen_plugins(value)


def _fit_errors(model: str, dataset: str) -> list[FieldError]:
    """A model whose input is larger than the dataset's images (LeNet-5 on 8×8 digits) is refused
    here, not when the job starts (plug-in models and datasets are checked when the job starts)."""
    if model not in MIN_INPUT_SIZE or dataset not in INPUT_SIZE or MIN_INPUT_SIZE[model] <= INPUT_SIZE[dataset]:
        return []
    side, low = INPUT_SIZE[dataset], MIN_INPUT_SIZE[model]
    return [FieldError("model.name", model, f"a model that accepts the {side}x{side} images of {dataset} "
                       f"({model} needs at least {low}x{low}): {', '.join(models_fitting(dataset))}")]


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
    errors += _fit_errors(c.model.name, c.dataset.name)
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
    errors += _pruner_reach(c, errors) + _device_errors(c.device) + _data_dir_errors(c.dataset.data_dir)
    errors += _seed_errors(c)
    for plugin in chosen_plugins(c):
        check = getattr(plugin, "check", None)
        if check is not None:
            errors.extend(e for e in _guarded(check, c) if e not in errors)    # a failed plan: said once
    return errors + (_guarded(_plan_errors, c) if not errors else [])


def _guarded(check, c) -> list[FieldError]:
    """``check(c)``; arithmetic that fails on extreme values (a schedule's ``exp`` overflowing, a
    division by zero in a plug-in's plan) becomes one error on the algorithm, not a traceback."""
    try:
        return check(c)
    except ArithmeticError as exc:
        return [FieldError("algorithm", c.algorithm.plugin_name, "options whose plan can be computed; computing "
                           f"it failed with {type(exc).__name__} ({exc}): move the extreme values towards the "
                           "defaults")]


def _pruner_reach(c, errors: list[FieldError]) -> list[FieldError]:
    """A pruner that removes nothing from the model (no layer of the chosen kind, every rate that
    acts 0, only the classes left for output_filter) is refused, naming the rate that is 0 when
    one is, else pruner.layers (unless pruner.layers is refused already)."""
    kinds = reach(c)
    if kinds is None or "" in kinds.values() or any(e.field == "pruner.layers" for e in errors):
        return []
    reasons = list(dict.fromkeys(kinds.values()))
    field = next((f"pruner.{name}" for name in ("conv_rate", "dense_rate", "output_rate")
                  if any(why.startswith(f"pruner.{name} ") for why in reasons)), "pruner.layers")
    value = c.pruner.layers if field == "pruner.layers" else getattr(c.pruner, field.split(".")[1])
    return [FieldError(field, value, f"a value that leaves {c.model.name} some layer to prune; with this "
                       f"config none is pruned: {'; '.join(reasons)}")]


def _device_errors(device: str) -> list[FieldError]:
    if DEVICE.fullmatch(device):
        return []
    return [FieldError("device", device, "auto, cpu, cuda, cuda:N or mps (N: a GPU index 0, 1, … "
                        "in ASCII digits, no leading zero)")]


def _data_dir_errors(data_dir: str | None) -> list[FieldError]:
    """A data dir is a folder name: not blank, no NUL or other control character, no ``..``
    component (a path that climbs out of where it points)."""
    if data_dir is None:
        return []
    parts = re.split(r"[\\/]", data_dir)
    if data_dir.strip() and ".." not in parts and data_dir.isprintable():
        return []
    return [FieldError("dataset.data_dir", data_dir, "null or a folder path: not blank, without control "
                       "characters (NUL …) and without a '..' component")]


def _seed_errors(c) -> list[FieldError]:
    """Every repeat's seed (seed … seed + repeats − 1) within 0 … SEED_MAX."""
    if c.seed + c.repeats - 1 <= SEED_MAX:
        return []
    return [FieldError("repeats", c.repeats, f"at most {SEED_MAX - c.seed + 1} with seed {c.seed}: the repeats' "
                       f"seeds seed … seed + repeats − 1 must stay <= {SEED_MAX}")]


def _plan_errors(c) -> list[FieldError]:
    """At most MAX_TOTAL_EPOCHS epochs planned in all (the plan of one repeat × repeats)."""
    per_repeat = c.plan().total_epochs()
    total = per_repeat * c.repeats
    if total <= MAX_TOTAL_EPOCHS:
        return []
    return [FieldError("training.epochs", c.training.epochs, f"a plan of at most {MAX_TOTAL_EPOCHS} epochs in all; "
                       f"this config plans {total} ({per_repeat} per repeat × {c.repeats} repeats): lower "
                       "training.epochs, the rounds or retraining epochs, or repeats")]
