"""A sweep's numbers for the app (pure pandas, no Streamlit, no torch): labels, the job status
grid, the points a heatmap aggregates, the per-combination table and the time estimate of a grid
before it is queued.

Axis values may be numbers, strings, ``null``, lists or tables; the app shows and groups them by
their text (:func:`value_text`: a string as is, anything else as JSON), in the order the sweep
lists them. Accuracy columns stay fractions here; the figures and tables turn them into %.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np
import pandas as pd

from pruning_core.summary import split_variants
from pruning_core.sweeps.table import group_axes, sweep_summary

ACTIVE = ("queued", "running")
STOPPED = ("interrupted", "failed", "cancelled")
STATUS_ORDER = ("running", "queued", "finished", "interrupted", "failed", "cancelled", "unreadable", "missing")


# ---- labels ----------------------------------------------------------------------------------

def value_text(value: Any) -> str:
    """An axis value as text: a string as it is, anything else as JSON (``null``, ``0.5``, ``[80, 120]``)."""
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, str) else json.dumps(value)


def combo_label(values: dict) -> str:
    """``pruner.score=random, seed=1``: one combination of axis values (text); "all jobs" for none."""
    return ", ".join(f"{k}={value_text(v)}" for k, v in values.items()) or "all jobs"


def axis_fields(sweep: dict) -> list[str]:
    """The sweep's axes, in order."""
    return [a["field"] for a in sweep["axes"]]


def value_order(sweep: dict) -> dict[str, list[str]]:
    """{axis: its values as text, in the sweep's order (duplicates once)}."""
    return {a["field"]: list(dict.fromkeys(value_text(v) for v in a["values"])) for a in sweep["axes"]}


def axes_text(sweep: dict) -> str:
    """``pruner.score (2) × seed (3)``, or ``a (3) ⇄ b (3)`` for zipped axes."""
    sign = " ⇄ " if sweep.get("zipped") else " × "
    return sign.join(f"{a['field']} ({len(a['values'])})" for a in sweep["axes"])


# ---- jobs ------------------------------------------------------------------------------------

def executor_text(sweep: dict) -> str:
    """`` · on Ray (ADDRESS)`` for a sweep sent to Ray, else nothing (this machine's worker)."""
    if sweep.get("executor") != "ray":
        return ""
    return f" · on Ray ({sweep['address']})" if sweep.get("address") else " · on a local Ray"


def job_progress(record: dict | None) -> float:
    """A job's progress in [0, 1]: 1 when finished, else epochs done / planned (0 when unknown)."""
    if not record:
        return 0.0
    if record.get("status") == "finished":
        return 1.0
    p = record.get("progress") or {}
    total = p.get("epochs_total")
    return min(1.0, (p.get("epochs_done") or 0) / total) if total else 0.0


def job_grid(sweep: dict, records: dict[str, dict]) -> pd.DataFrame:
    """One row per job of the sweep: its axis values (text), status, progress and epochs; a job
    missing from ``records`` has status ``missing``."""
    rows = []
    for job_id in sweep["jobs"]:
        record = records.get(job_id)
        axes = (record or {}).get("axes") or {}
        p = (record or {}).get("progress") or {}
        total = p.get("epochs_total")
        rows.append({"job": job_id, **{f: value_text(axes.get(f)) if f in axes else "?" for f in axis_fields(sweep)},
                     "status": record.get("status", "unreadable") if record else "missing",
                     "progress": job_progress(record),
                     "epochs": f"{p.get('epochs_done') or 0} / {total if total else '?'}"})
    return pd.DataFrame(rows, columns=["job", *axis_fields(sweep), "status", "progress", "epochs"])


def status_counts(statuses: Iterable[str]) -> dict[str, int]:
    """{status: count} in a fixed order, statuses with no job left out."""
    statuses = list(statuses)
    known = {s: statuses.count(s) for s in STATUS_ORDER if s in statuses}
    return {**known, **{s: statuses.count(s) for s in statuses if s not in known}}


def sweep_row(sweep: dict, records: dict[str, dict]) -> dict:
    """Home's line for a sweep: name, axes, jobs finished / total, progress and the other states."""
    statuses = [(records.get(j) or {}).get("status", "missing") for j in sweep["jobs"]]
    counts = status_counts(statuses)
    n = len(sweep["jobs"])
    progress = float(np.mean([job_progress(records.get(j)) for j in sweep["jobs"]])) if n else 0.0
    return {"sweep": sweep["id"], "name": sweep.get("name") or sweep["id"], "axes": axes_text(sweep),
            "finished": f"{counts.get('finished', 0)} / {n}", "progress": progress,
            "states": ", ".join(f"{v} {k}" for k, v in counts.items() if k != "finished") or "—",
            "open": f"Sweeps?sweep={sweep['id']}"}


# ---- results ---------------------------------------------------------------------------------

def labelled(rounds: pd.DataFrame, sweep: dict) -> pd.DataFrame:
    """The sweep's rounds (``sweep_rounds``) with every axis value as text and the evaluation
    variants (ASNI-II) left out: the trajectory rows, ready to group."""
    rounds, _ = split_variants(rounds)
    out = rounds.copy()
    for field in axis_fields(sweep):
        if field in out:
            out[field] = out[field].map(value_text)
    return out


def last_rows(rounds: pd.DataFrame) -> pd.DataFrame:
    """Per finished job and repeat, its last round (the final accuracy)."""
    done = rounds[rounds["status"] == "finished"]
    if not len(done):
        return done
    return done.sort_values("round").groupby(["job", "repeat"], sort=False).tail(1)


def nearest_rows(rounds: pd.DataFrame, sparsity: float) -> pd.DataFrame:
    """Per job and repeat, its round whose sparsity is nearest ``sparsity``; a job that is not
    finished counts only once it has reached that sparsity (else its nearest round may change)."""
    if not len(rounds):
        return rounds
    reached = rounds.groupby(["job", "repeat"])["sparsity"].transform("max") >= sparsity - 1e-9
    rows = rounds[reached | (rounds["status"] == "finished")]
    if not len(rows):
        return rows
    distance = (rows["sparsity"] - sparsity).abs()
    return rows.loc[distance.groupby([rows["job"], rows["repeat"]]).idxmin()]


def heatmap_table(points: pd.DataFrame, sweep: dict, rows: str, columns: str | None,
                  value: str = "test_accuracy") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(median, count) of ``value`` over the points of each (row value, column value) cell, over
    every other axis and seed; rows and columns in the sweep's order, every value present (a cell
    without points is NaN). ``columns`` None: one column, "all"."""
    order = value_order(sweep)
    index = pd.Index(_with_extras(order[rows], points, rows), name=rows)
    cols = pd.Index(_with_extras(order[columns], points, columns) if columns else ["all"], name=columns or "")
    median = pd.DataFrame(np.nan, index=index, columns=cols)
    count = pd.DataFrame(0, index=index, columns=cols)
    if len(points):
        keys = [points[rows], points[columns] if columns else pd.Series("all", index=points.index)]
        grouped = points.groupby(keys)[value]
        for (r, c), v in grouped.median().items():
            if r in median.index and c in median.columns:
                median.loc[r, c] = v
        for (r, c), n in grouped.count().items():
            if r in count.index and c in count.columns:
                count.loc[r, c] = n
    return median, count


def _with_extras(values: list[str], points: pd.DataFrame, field: str) -> list[str]:
    """The sweep's values of an axis, then any other value the rounds have for it (the seed
    column holds each repeat's own seed: seed + repeat), numbers in numeric order."""
    if not len(points) or field not in points:
        return values
    extra = [v for v in dict.fromkeys(points[field]) if v not in values]
    return values + sorted(extra, key=_sort_key)


def _sort_key(text: str) -> tuple:
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def combinations(rounds: pd.DataFrame, sweep: dict, grid: pd.DataFrame) -> pd.DataFrame:
    """One row per combination of the non-seed axes: jobs finished / total, and at its last round
    so far the round, % weights remaining, accuracy % (median, min, max over seeds and repeats),
    the runs counted and the search cost (retraining epochs per run)."""
    keys = group_axes(sweep)
    order = value_order(sweep)
    jobs = grid.groupby(keys, sort=False) if keys else [((), grid)]
    rows = []
    for key, group in jobs:
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, key)), "jobs": f"{int((group['status'] == 'finished').sum())} / {len(group)}"})
    table = pd.DataFrame(rows, columns=[*keys, "jobs"])
    summary = sweep_summary(rounds, sweep) if len(rounds) else pd.DataFrame()
    if len(summary):
        final = summary[summary["final"]].rename(columns={
            "round": "round", "test_accuracy_median": "accuracy %", "test_accuracy_min": "min %",
            "test_accuracy_max": "max %", "remaining_fraction_median": "remaining %", "search_cost": "search cost"})
        for column in ("accuracy %", "min %", "max %", "remaining %"):
            final[column] = 100 * final[column]
        final = final[[*keys, "round", "remaining %", "accuracy %", "min %", "max %", "runs", "search cost"]]
        table = table.merge(final, on=keys, how="left") if keys else pd.concat(
            [table, final.reset_index(drop=True)], axis=1)
    for column in ("round", "remaining %", "accuracy %", "min %", "max %", "runs", "search cost"):
        if column not in table:
            table[column] = np.nan
    if keys:
        position = {k: {v: i for i, v in enumerate(order[k])} for k in keys}
        table = table.sort_values(keys, key=lambda s: s.map(position[s.name])).reset_index(drop=True)
    return table


# ---- the estimate of a grid before it is queued -------------------------------------------------

def shared_dense_repeats(keys_per_job: list[list[str | None]]) -> list[int]:
    """Per job, how many of its repeats reuse a round 0 that an earlier job of the grid trains
    (same dense key, :mod:`pruning_core.dense`): those dense trainings happen once."""
    seen: set[str] = set()
    out = []
    for keys in keys_per_job:
        shared = 0
        for key in keys:
            if key is None:
                continue
            if key in seen:
                shared += 1
            seen.add(key)
        out.append(shared)
    return out


def sweep_seconds(jobs: list[tuple[int, float]], startup: float, slots: int) -> tuple[float, float]:
    """(serial seconds, wall seconds with ``slots`` jobs at a time) of jobs given as (epochs to
    train, seconds per epoch), each paying ``startup``; the wall time assumes the slots share the
    work evenly (at most as many slots as jobs)."""
    serial = float(sum(startup + epochs * per_epoch for epochs, per_epoch in jobs))
    return serial, serial / max(1, min(slots, len(jobs) or 1))
