"""A job's summary from its record and events — torch-free, so the app and the CLI share it."""

from __future__ import annotations

import math
import time

from .config import Config
from .events import aggregate_rounds

EVALUATION_VARIANTS = ("ASNI-II", "original-init")
TREATMENT_TAGS = {"rewind": "WR", "keep": "LRR"}


def method_label(config: dict) -> str:
    """Short name of a config's method, e.g. 'IMP+WR ×20', 'AIMP+LRR ×5', 'IMP+SLR ×5',
    'one-shot+FT', 'BIMP ×5', 'ASNI', 'gradual (polynomial)', plus the pruner when it is not
    magnitude pruning of single weights."""
    from .config.migrate import is_legacy, migrate

    if is_legacy(config):
        config = migrate(config)
    a, p = config.get("algorithm", {}), config.get("pruner", {})
    name = a.get("name", "imp")
    policy = (a.get("lr_policy") or {}).get("name", "replay")
    treatment = a.get("treatment", "rewind")
    if policy == "replay":
        tag = TREATMENT_TAGS.get(treatment, f"WR/{treatment}")
    else:
        tag = policy.upper() + ("" if treatment == "keep" else f"/{treatment}")
    if name == "imp":
        text = f"{'AIMP' if a.get('partial_epochs') else 'IMP'}+{tag} ×{a.get('rounds')}"
    elif name == "one_shot":
        text = f"one-shot+{tag}"
    elif name == "bimp":
        text = f"BIMP ×{a.get('rounds')}"
    elif name == "asni":
        text = "ASNI"
    elif name == "gradual":
        text = f"gradual ({(a.get('schedule') or {}).get('name', 'polynomial')})"
    elif name == "at_init":
        text = "at init"
    else:
        text = name
    score = (p.get("score") or {}).get("name", "magnitude")
    unit = p.get("unit", "weight")
    selection = (p.get("selection") or {}).get("name", "fraction")
    if (score, unit, selection) != ("magnitude", "weight", "fraction"):
        text += f" · {score}/{unit}" + (f"/{selection}" if selection != "fraction" else "")
    return text


def split_variants(rounds):
    """(the pruning trajectory, {variant: rows}). Rows of an evaluation variant (ASNI-II and its
    original-init control) retrain the final mask; they are not further rounds of the trajectory."""
    if "variant" not in rounds:
        return rounds, {}
    extra = rounds["variant"].isin(EVALUATION_VARIANTS)
    return rounds[~extra], {str(v): g for v, g in rounds[extra].groupby("variant")}


def plain_records(frame) -> list[dict]:
    """DataFrame rows as JSON-ready dicts: numpy scalars as Python numbers, NaN as None, full precision."""
    def plain(value):
        value = value.item() if hasattr(value, "item") else value
        return None if isinstance(value, float) and math.isnan(value) else value
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def build_summary(record: dict, events: list[dict], rounds, versions: dict | None = None) -> dict:
    """Config, hash, device, status and totals of a job; per-round median/min/max over repeats."""
    config = Config.from_dict(record["config"])
    started, finished = record.get("started"), record.get("finished")
    summary = {
        "job": record["id"], "name": record.get("name"), "status": record["status"],
        "config": config.to_dict(), "config_hash": record["config_hash"], "device": record.get("device"),
        "error": record.get("error"), "started": started, "finished": finished,
        "totals": {"epochs_trained": sum(1 for e in events if e["type"] == "epoch"),
                   "planned_search_cost_epochs": config.plan().search_cost(),
                   "seconds": ((finished or time.time()) - started) if started else None},
    }
    if versions:
        summary["versions"] = versions
    main, _ = split_variants(rounds)
    if len(main):
        last = main[main["round"] == main["round"].max()]
        dense = main[main["round"] == 0]["test_accuracy"]
        summary["totals"].update(
            rounds_finished=int(main["round"].max()),
            search_cost_epochs=int(last["cumulative_epochs"].max()),
            final_sparsity=float(last["sparsity"].median()),
            final_test_accuracy_median=float(last["test_accuracy"].median()),
            dense_test_accuracy_median=float(dense.median()) if len(dense) else None)
        summary["per_round"] = plain_records(aggregate_rounds(main))
    asni = [e for e in events if e["type"] == "asni_summary"]
    if asni:
        summary["asni"] = asni
    return summary
