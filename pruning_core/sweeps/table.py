"""A sweep's results as tables (torch-free): built from its jobs' events, readable while it runs.

:func:`sweep_rounds` — one row per job × repeat × round, the axis values as columns first
(``sweep.csv``). :func:`sweep_summary` — one row per combination of the axis values other than
the seeds and round: median, min and max over seeds of the accuracy and the remaining weights,
the final accuracy and the search cost (``sweep_summary.csv``).
"""

from __future__ import annotations

from typing import Any

from ..errors import CorruptRecord
from ..events import events_to_frames

SEED_AXES = ("seed",)


def sweep_rounds(store: Any, sweep: dict):
    """One row per job × repeat × round of every job of ``sweep`` that has finished a round, with
    the axis values, the job id and its status; an unreadable job contributes no rows."""
    import pandas as pd

    axes = [a["field"] for a in sweep["axes"]]
    frames = []
    for job_id in sweep["jobs"]:
        try:
            record = store.get_job(job_id)
            rounds, _ = events_to_frames(store.events(job_id))
        except (CorruptRecord, KeyError):
            continue
        if not len(rounds):
            continue
        for field in reversed(axes):         # an axis the rounds already have (seed): theirs, moved first
            column = rounds.pop(field) if field in rounds else [record["axes"].get(field)] * len(rounds)
            rounds.insert(0, field, column)
        rounds.insert(len(axes), "job", job_id)
        rounds.insert(len(axes) + 1, "status", record["status"])
        frames.append(rounds)
    if not frames:
        return pd.DataFrame(columns=[*axes, "job", "status", "repeat", "round"])
    return pd.concat(frames, ignore_index=True)


def group_axes(sweep: dict) -> list[str]:
    """The axes results are grouped by: every axis but the seed."""
    return [a["field"] for a in sweep["axes"] if a["field"] not in SEED_AXES]


def sweep_summary(rounds, sweep: dict):
    """Per combination of the non-seed axis values and round: median / min / max over seeds and
    repeats of the test accuracy and the remaining fraction, how many runs contributed, the final
    round's accuracy (median) and the search cost (cumulative retraining epochs)."""
    import pandas as pd

    keys = group_axes(sweep)
    if not len(rounds):
        return pd.DataFrame(columns=[*keys, "round"])
    by = [*keys, "round"]
    grouped = rounds.assign(**{k: rounds[k].map(_hashable) for k in keys}).groupby(by, dropna=False, sort=True)
    out = grouped["test_accuracy"].agg(test_accuracy_median="median", test_accuracy_min="min",
                                       test_accuracy_max="max", runs="count")
    out = out.join(grouped["remaining_fraction"].agg(remaining_fraction_median="median"))
    out = out.join(grouped["cumulative_epochs"].agg(search_cost="max")).reset_index()
    last = out.groupby(keys, dropna=False)["round"].transform("max") if keys else out["round"].max()
    out["final"] = out["round"] == last
    return out


def _hashable(value: Any) -> Any:
    """Axis values as group keys (a list or dict value becomes its text)."""
    return str(value) if isinstance(value, (list, dict)) else value
