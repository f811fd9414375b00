"""Configs in the first release's layout, read into the current one (pure dict → dict).

The first release had flat ``pruner`` and ``algorithm`` sections: ``pruner.method`` /
``structure`` / ``scope`` / ``aiap_*`` and ``algorithm.rewind`` / ``reinit`` / ``lr_policy`` /
``sigmoid_*`` / ``gradual_*`` / ``bimp_dense_epochs``. Stored jobs and users' files still use
it, so :meth:`Config.from_dict <pruning_core.config.Config.from_dict>` reads it through
:func:`migrate`, which fills that release's defaults and maps each method onto its plug-ins:

===========================================  =================================================
first release                                now
===========================================  =================================================
method magnitude/random, structure S         score magnitude (norm) / random, unit U(S)
method activation                            score activation (batch), unit output_filter
method aiap                                  score activation + selection threshold (λ, s, d)
scope                                        grouping
rewind weights (+ reinit R)                  treatment rewind (or R), lr_policy replay
rewind lr, lr_policy default / P             treatment keep, lr_policy replay / P
rewind none, lr_policy default / P           treatment keep, lr_policy ft / P
one_shot target_sparsity s                   one_shot rate 1 − (1 − s)
asni sigmoid_alpha/beta/gamma, target        asni schedule sigmoid {alpha, beta, gamma, target}
gradual gradual_start/end, target            gradual schedule polynomial {start, end, target}
bimp bimp_dense_epochs                       bimp dense_epochs
lr_policy allr, bimp                         d1_over prunable_weights (that release's d₁)
lr_policy clr                                lr_policy clr decay_to zero (that release's CLR)
===========================================  =================================================

The last two rows keep what a first-release run computed: it took ALLR's ‖θ‖ over the alive
conv/linear weights and ended CLR's cosine at 0; the current defaults follow the BIMP paper's
reference code instead (ALLR's ‖θ‖ over all parameters, CLR down to the schedule's minimum).

Values the first release accepted but ignored (a norm on unstructured pruning, ``lr_policy``
under weight rewinding, ``retrain_epochs`` with the default policy, a conv rate on a model
without convs …) are dropped, as that release dropped them; so are values that would not act in
the new layout. On a model without convs, fc-only, per_type and hybrid are read as what they
computed there: all layers, global, by weight (a hybrid *random* run drew its channel scores
first, so re-running the migrated config draws other random numbers).
"""

from __future__ import annotations

import math
from typing import Any

from ..catalog import CONV_FREE
from .fields import ConfigError, FieldError

V1_PRUNER = {"method": "magnitude", "structure": "unstructured", "norm": "l1", "layers": "all",
             "scope": "global", "conv_rate": None, "dense_rate": None, "output_rate": None,
             "activation_batch": 60, "aiap_lambda": 0.01, "aiap_start_round": 3, "aiap_min_change": 0.01}
V1_ALGORITHM = {"name": "imp", "rounds": 5, "rate": 0.2, "target_sparsity": None, "rewind": "weights",
                "rewind_epoch": 5, "partial_epochs": None, "reinit": "none", "lr_policy": "default",
                "retrain_epochs": None, "warmup_fraction": 0.1, "sigmoid_alpha": None, "sigmoid_beta": 0.5,
                "sigmoid_gamma": None, "amenable": True, "gradual_start": 0, "gradual_end": None,
                "bimp_dense_epochs": 2}
_V1_ONLY_PRUNER = {"method", "structure", "scope", "norm", "activation_batch", "aiap_lambda",
                   "aiap_start_round", "aiap_min_change"}
_V1_ONLY_ALGORITHM = {"rewind", "reinit", "sigmoid_alpha", "sigmoid_beta", "sigmoid_gamma", "gradual_start",
                      "gradual_end", "bimp_dense_epochs"}
UNITS = {"unstructured": "weight", "channels": "input_channel", "filters": "output_filter", "hybrid": "hybrid"}
WARMUP_POLICIES = ("clr", "llr", "allr")
V1_READINGS = {"allr": {"d1_over": "prunable_weights"}, "clr": {"decay_to": "zero"}}
"""What the first release computed where the defaults now follow ZIB-IOL/BIMP."""


def is_legacy(data: Any) -> bool:
    """Whether a (partial) config dict uses the first release's layout."""
    if not isinstance(data, dict):
        return False
    pruner, algorithm = data.get("pruner"), data.get("algorithm")
    if isinstance(pruner, dict) and _V1_ONLY_PRUNER & set(pruner):
        return True
    if not isinstance(algorithm, dict):
        return False
    if _V1_ONLY_ALGORITHM & set(algorithm) or algorithm.get("lr_policy") == "default":
        return True
    name = algorithm.get("name", "imp")
    return (name in ("asni", "gradual") and "target_sparsity" in algorithm) or \
        (name in ("imp", "one_shot") and "warmup_fraction" in algorithm)


def migrate(data: dict) -> dict:
    """The current layout of a first-release config dict (other sections are copied as they are).

    Raises ConfigError for a ``pruner`` or ``algorithm`` section that is not a table, holds a key
    the first release did not have (the two layouts cannot be mixed), or a value of the wrong type.
    """
    errors = layout_errors(data)
    if errors:
        raise ConfigError(errors)
    out = {k: v for k, v in data.items() if k not in ("pruner", "algorithm")}
    out["pruner"] = _pruner({**V1_PRUNER, **(data.get("pruner") or {})})
    model = data.get("model")
    if (model.get("name", "lenet300_100") if isinstance(model, dict) else None) in CONV_FREE:
        _without_convs(out["pruner"])
    out["algorithm"] = _algorithm({**V1_ALGORITHM, **(data.get("algorithm") or {})})
    return out


def layout_errors(data: dict) -> list[FieldError]:
    """What stops a first-release config from being read: a ``pruner``/``algorithm`` section that
    is not a table, a key that layout did not have, or a value whose type is not its default's."""
    errors = []
    for section, defaults in (("pruner", V1_PRUNER), ("algorithm", V1_ALGORITHM)):
        given = data.get(section)
        if given is None:
            continue
        if not isinstance(given, dict):
            errors.append(FieldError(section, given, "a table of fields"))
            continue
        for key, value in given.items():
            path = f"{section}.{key}"
            if key not in defaults:
                errors.append(FieldError(path, value, "a key of the first release's layout, which this config uses "
                                         f"(the layouts cannot be mixed): {', '.join(defaults)}"))
            elif not _same_type(defaults[key], value):
                errors.append(FieldError(path, value, _type_text(defaults[key]) + " (first-release layout)"))
    return errors


def _same_type(default: Any, value: Any) -> bool:
    """Whether ``value`` has the type of a first-release default (a null default: a number)."""
    if isinstance(default, (bool, str)):
        return type(value) is type(default)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if default is None and value is None:
        return True
    try:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:
        return False


def _type_text(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, str):
        return "a string"
    if isinstance(default, int):
        return "an integer"
    return "a finite number" + (" or null" if default is None else "")


def _without_convs(pruner: dict) -> None:
    """On a model without convs fc-only is all layers, per_type is global, hybrid is by weight, and a
    conv rate acts on nothing: the first release ran them as that, so they are read as that."""
    if pruner["layers"] == "linear":
        pruner["layers"] = "all"
    if pruner.get("grouping") == "per_type":
        pruner["grouping"] = "global"
    if pruner["unit"] == "hybrid":
        pruner["unit"] = "weight"
        if pruner["score"].get("name") == "magnitude":
            pruner["score"] = {"name": "magnitude"}
    pruner.pop("conv_rate", None)


def _pruner(p: dict) -> dict:
    unit = UNITS.get(p["structure"], p["structure"])
    method = p["method"]
    if method in ("activation", "aiap"):
        score: dict = {"name": "activation", "batch": p["activation_batch"]}
    elif method == "magnitude" and unit != "weight":
        score = {"name": "magnitude", "norm": p["norm"]}
    else:
        score = {"name": method}
    selection: dict = {"name": "fraction"}
    if method == "aiap":
        selection = {"name": "threshold", "step": p["aiap_lambda"], "start_round": p["aiap_start_round"],
                     "min_change": p["aiap_min_change"]}
    out = {"score": score, "unit": unit, "selection": selection, "layers": p["layers"]}
    if method != "aiap":
        out["grouping"] = p["scope"]
        out.update({k: p[k] for k in ("conv_rate", "dense_rate", "output_rate") if p[k] is not None})
    return out


def _algorithm(a: dict) -> dict:
    name = a["name"]
    if name == "asni":
        return {"name": "asni", "amenable": a["amenable"],
                "schedule": {"name": "sigmoid", "target_sparsity": a["target_sparsity"], "alpha": a["sigmoid_alpha"],
                             "beta": a["sigmoid_beta"], "gamma": a["sigmoid_gamma"]}}
    if name == "gradual":
        return {"name": "gradual", "schedule": {"name": "polynomial", "target_sparsity": a["target_sparsity"],
                                                "start": a["gradual_start"], "end": a["gradual_end"]}}
    if name == "bimp":
        return {"name": "bimp", "rounds": a["rounds"], "dense_epochs": a["bimp_dense_epochs"],
                "warmup_fraction": a["warmup_fraction"], **V1_READINGS["allr"], **_rate(a)}
    if name not in ("imp", "one_shot"):
        return {k: v for k, v in a.items() if k in ("name",)}
    if a["rewind"] == "weights":
        treatment, policy = (a["reinit"] if a["reinit"] != "none" else "rewind"), "replay"
    else:
        treatment = "keep"
        policy = a["lr_policy"] if a["lr_policy"] != "default" else ("replay" if a["rewind"] == "lr" else "ft")
    if a["rewind"] == "none" and a["lr_policy"] == "default" and a["partial_epochs"] is not None and name == "imp":
        raise ConfigError([FieldError("algorithm.partial_epochs", a["partial_epochs"],
                                      "null: fine-tuning with AIMP's τ (first release: rewind = 'none') has no "
                                      "equivalent now; τ shortens replayed retraining only")])
    lr_policy: dict = {"name": policy, **V1_READINGS.get(policy, {})}
    if policy in WARMUP_POLICIES:
        lr_policy["warmup_fraction"] = a["warmup_fraction"]
    out: dict = {"name": name, "treatment": treatment, "lr_policy": lr_policy}
    retrain = a["retrain_epochs"] if (a["rewind"] != "weights" and a["lr_policy"] != "default") else None
    if retrain is not None:
        out["retrain_epochs"] = retrain
    k_acts = treatment != "keep" or policy == "replay" or retrain is None
    if k_acts:
        out["rewind_epoch"] = a["rewind_epoch"]
    if name == "one_shot":
        s = a["target_sparsity"]
        out["rate"] = a["rate"] if s is None else 1.0 - (1.0 - s) ** (1.0 / 1)
        return out
    out["rounds"] = a["rounds"]
    out.update(_rate(a))
    if policy == "replay" and a["partial_epochs"] is not None and a["rounds"] > 1:
        out["partial_epochs"] = a["partial_epochs"]
    return out


def _rate(a: dict) -> dict:
    return {"target_sparsity": a["target_sparsity"]} if a["target_sparsity"] is not None else {"rate": a["rate"]}
