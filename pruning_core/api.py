"""The public plug-in API: everything a new score, schedule, LR policy, treatment, algorithm or
model needs, and nothing else. A plug-in is one Python file that imports from here::

    from pruning_core.api import Score, option, register_score

    @register_score("magnitude_increase")
    class MagnitudeIncrease(Score):
        '''|w| − |w₀|: how much each weight grew since initialisation (Zhou et al. 2019).'''
        units = ("weight",)
        def __call__(self, ctx):
            return {n: w.detach().abs() - ctx.initial[n].abs() for n, w in ctx.weights.items()}

Load it with ``python -m pruning_core --plugin FILE ...``, ``$PRUNELAB_PLUGINS``, or a
``plugins/`` folder: the name then appears in ``defaults``, ``describe``, ``--set``, the app's
form and the docs. A class's fields (declared with :func:`option`) are the method's options; its
docstring's first paragraph is its help text. Keep ``import torch`` inside functions (or use
tensor methods and the context's helpers): the app imports plug-in files to draw its form and
stays free of torch.

* scores: ``__call__(ctx) -> {layer: scores}`` (:class:`~pruning_core.pruners.context.ScoreContext`)
* sparsity schedules: ``sparsities(epochs) -> [s_1 … s_E]``
* LR policies: ``lr(t, env) -> float`` (:class:`~pruning_core.plan.LREnv`)
* treatments: ``treatment(run) -> state dict | None``
* algorithms: ``plan(config) -> Plan``; optionally ``run_round(run, step)`` and ``finish(run)``
* models: ``builder(in_channels, num_classes, input_size) -> nn.Module``
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from .algorithms.base import Algorithm
from .config.fields import FieldError, Not, choice, option
from .lr_policies import LRPolicy
from .plan import LREnv, LRPlan, Plan, PruneStep, RoundPlan
from .pruners.scores import Score
from .registry import (ALGORITHMS, LR_POLICIES, MODELS, SCHEDULES, SCORES, PluginError, Registry, load_plugin,
                       load_plugins)
from .schedules import SparsitySchedule
from .treatments import treatment as register_treatment

__all__ = ["Algorithm", "FieldError", "LREnv", "LRPlan", "LRPolicy", "Not", "Plan", "PluginError", "PruneStep",
           "RoundPlan", "Score", "SparsitySchedule", "choice", "load_plugin", "load_plugins", "lr_policy", "option",
           "register_algorithm", "register_lr_policy", "register_model", "register_schedule", "register_score",
           "register_treatment"]


def _registrar(registry: Registry) -> Callable[..., Callable[[type], type]]:
    def register(name: str, *, label: str | None = None, help: str | None = None) -> Callable[[type], type]:
        def wrap(cls: type) -> type:
            if not dataclasses.is_dataclass(cls) or "__dataclass_fields__" not in cls.__dict__:
                cls = dataclasses.dataclass(frozen=True)(cls)
            return registry.register(name, cls, label=label, help=help)
        return wrap
    register.__doc__ = (f"Register a {registry.kind} class under ``name`` (made a frozen dataclass "
                        f"if it is not one): ``@register_{registry.kind}(name)``.")
    return register


register_score = _registrar(SCORES)
register_schedule = _registrar(SCHEDULES)
register_lr_policy = _registrar(LR_POLICIES)
register_algorithm = _registrar(ALGORITHMS)


def lr_policy(name: str, **options: Any) -> LRPolicy:
    """A registered retraining LR policy with these options, e.g. ``lr_policy("replay")`` for the
    LR of a round that trains on the original schedule (an algorithm's ``plan`` uses it)."""
    return LR_POLICIES.get(name)(**options)


def register_model(name: str, builder: Any = None, *, help: str | None = None) -> Any:
    """Register a model builder ``builder(in_channels, num_classes, input_size) -> nn.Module``
    (a decorator when ``builder`` is omitted). ``builder.min_input_size`` may give the smallest
    image side it accepts."""
    if builder is None:
        return lambda fn: register_model(name, fn, help=help)
    return MODELS.register(name, builder, help=help)
