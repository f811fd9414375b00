"""Largest compression and FLOPs speed-up within an accuracy budget (IAP/AIAP paper, Table 2, Fig. 5).

For an allowed accuracy drop δ, per repeat: the dense accuracy a₀ is the round-0 test accuracy;
the eligible rounds are those with accuracy ≥ a₀ − δ (round 0 always is); the chosen round is
the eligible one with the fewest remaining weights (the most compressed; ties: the higher
accuracy, then the earlier round). It gives

* ``remaining_fraction`` = remaining / total prunable weights,
* ``compression_ratio`` = total / remaining weights = 1 / remaining_fraction,
* ``flops_speedup`` = dense FLOPs / FLOPs of the chosen round (the ``flops`` of the round
  events; dense FLOPs = ``dense_flops`` when the frame has it, else the round-0 ``flops``),
* ``best_flops_speedup`` = the largest speed-up of any eligible round (Fig. 5's "highest
  achievable FLOPs speed-up"; the same round when FLOPs fall with every round, as in IMP).

δ is an **absolute** accuracy difference on the [0, 1] scale the events use: δ = 0.01 is one
percentage point ("1 % accuracy drop", IAP's reading of Top-1 loss), δ = 0 demands no loss at
all (a ≥ a₀, a lottery ticket). With several repeats every quantity is the **median over
repeats** of the per-repeat values (each repeat picks its own round), and ``per_repeat`` keeps
the details. The ratio counts prunable (conv/linear) weights only, like the rounds' sparsity.

Pure pandas, no torch: the app can call it on ``events_to_frames`` output.
"""

from __future__ import annotations

import math
from typing import Iterable

__all__ = ["compression_at_drop", "compression_table"]

_EPS = 1e-12


def _number(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _one_repeat(frame, drop: float, metric: str) -> dict:
    frame = frame.sort_values("round")
    dense = frame[frame["round"] == 0]
    if dense.empty:
        raise ValueError("the rounds have no round 0 (the dense network) to measure the drop from")
    dense = dense.iloc[0]
    dense_acc = float(dense[metric])
    dense_flops = _number(dense["dense_flops"]) if "dense_flops" in frame else None
    if dense_flops is None and "flops" in frame:
        dense_flops = _number(dense["flops"])
    eligible = frame[frame[metric] >= dense_acc - drop - _EPS]
    ranked = eligible.assign(_neg_acc=-eligible[metric]).sort_values(
        ["remaining_fraction", "_neg_acc", "round"])
    row = ranked.iloc[0]

    def speedup(flops) -> float | None:
        flops = _number(flops)
        return dense_flops / flops if dense_flops is not None and flops else None

    speedups = [s for s in map(speedup, eligible["flops"]) if s is not None] if "flops" in frame else []
    remaining = float(row["remaining_fraction"])
    return {"round": int(row["round"]), "remaining_fraction": remaining,
            "compression_ratio": 1.0 / remaining if remaining > 0 else math.inf,
            "flops_speedup": speedup(row["flops"]) if "flops" in frame else None,
            "best_flops_speedup": max(speedups) if speedups else None,
            "accuracy": float(row[metric]), "dense_accuracy": dense_acc,
            "accuracy_drop": dense_acc - float(row[metric])}


def _median(values: list) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return float(values[mid]) if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


def compression_at_drop(rounds_df, drop: float = 0.01, *, metric: str = "test_accuracy") -> dict:
    """The most compressed round within an absolute accuracy drop ``drop`` (0.01 = 1 point).

    ``rounds_df``: one row per (repeat, round) with ``round``, ``remaining_fraction``, ``metric``
    (``test_accuracy`` = last epoch, or ``best_test_accuracy``) and optionally ``flops``,
    ``dense_flops``, ``repeat``. Returns the medians over repeats (``round`` too, as a float when
    repeats disagree) with ``repeats`` and ``per_repeat``.
    """
    if drop < 0:
        raise ValueError(f"drop must be >= 0 (an allowed loss of accuracy), got {drop}")
    if rounds_df is None or len(rounds_df) == 0:
        raise ValueError("no rounds to analyse")
    missing = [c for c in ("round", "remaining_fraction", metric) if c not in rounds_df]
    if missing:
        raise ValueError(f"the rounds table lacks the columns {missing}")
    groups = rounds_df.groupby("repeat") if "repeat" in rounds_df else [(0, rounds_df)]
    per_repeat = [{"repeat": int(rep), **_one_repeat(frame, drop, metric)} for rep, frame in groups]
    keys = ["round", "remaining_fraction", "compression_ratio", "flops_speedup", "best_flops_speedup",
            "accuracy", "dense_accuracy", "accuracy_drop"]
    out = {"drop": drop, "metric": metric, "repeats": len(per_repeat)}
    out.update({k: _median([r[k] for r in per_repeat]) for k in keys})
    if out["round"] is not None and float(out["round"]).is_integer():
        out["round"] = int(out["round"])
    out["per_repeat"] = per_repeat
    return out


def compression_table(rounds_df, drops: Iterable[float] = (0.0, 0.01), *, metric: str = "test_accuracy"):
    """IAP's Table 2 for one run: a DataFrame with one row per allowed drop (without ``per_repeat``)."""
    import pandas as pd

    rows = []
    for drop in drops:
        result = compression_at_drop(rounds_df, drop, metric=metric)
        result.pop("per_repeat")
        rows.append(result)
    return pd.DataFrame(rows)
