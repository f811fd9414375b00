"""A sweep's figures: pure functions from the tables of :mod:`ui.sweep_data` to Plotly figures
(no store, no Streamlit), in the conventions of :mod:`ui.figures`.

* accuracy vs remaining weights per value of an axis (or per combination): the Compare page's
  chart — log x decreasing to the right, median line and min–max band over the seeds, repeats and
  other axes that share the value;
* a heatmap of accuracy (%) over two axes, each cell the median of its runs (text: the value;
  hover: the runs counted), empty cells left blank;
* the search cost of each combination as bars, with its accuracy in the hover, and the accuracy
  of each combination against its search cost (median, min–max bars): what the cost buys.

Axis values and field names come from the sweep record (user text): they pass through
:func:`ui.text.chart` here, like every label in :mod:`ui.figures`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from . import figures
from .figures import PALETTE, _layout
from .text import chart

ACCURACY_COLORSCALE = "Viridis"


def groups(rounds: pd.DataFrame, by: list[str], order: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
    """{``a=x, b=y``: its rows} per combination of the ``by`` columns (text values), in the
    sweep's order of values; {"all jobs": rows} when ``by`` is empty."""
    if not len(rounds):
        return {}
    if not by:
        return {"all jobs": rounds}
    out = {}
    position = {k: {v: i for i, v in enumerate(order.get(k, []))} for k in by}
    keys = sorted({tuple(row) for row in rounds[by].itertuples(index=False)},
                  key=lambda t: tuple(position[k].get(v, len(position[k])) for k, v in zip(by, t)))
    for key in keys:
        mask = np.logical_and.reduce([rounds[k] == v for k, v in zip(by, key)])
        out[", ".join(f"{k}={v}" for k, v in zip(by, key))] = rounds[mask]
    return out


def sweep_accuracy(rounds: pd.DataFrame, by: list[str], order: dict[str, list[str]],
                   title: str = "Test accuracy vs weights remaining") -> go.Figure:
    """Accuracy against % weights remaining, one line per combination of ``by`` (median per round
    over everything else: seeds, repeats, the other axes) with its min–max band."""
    return figures.accuracy_vs_remaining(groups(rounds, by, order), title=title)


def accuracy_heatmap(median: pd.DataFrame, count: pd.DataFrame, title: str = "Final test accuracy (%)") -> go.Figure:
    """A heatmap of ``median`` (accuracy fractions; rows × columns as in :func:`ui.sweep_data.heatmap_table`)
    in %: each cell shows its value, its hover the runs it is the median of; NaN cells stay blank."""
    z = 100 * median.to_numpy(dtype=float)
    x = [chart(c) for c in median.columns]
    y = [chart(r) for r in median.index]
    text = [["" if np.isnan(v) else f"{v:.2f}" for v in row] for row in z]
    n = count.reindex(index=median.index, columns=median.columns).fillna(0).to_numpy(dtype=int)
    finite = z[np.isfinite(z)]
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=y, text=text, texttemplate="%{text}", customdata=n, colorscale=ACCURACY_COLORSCALE,
        zmin=float(finite.min()) if finite.size else None, zmax=float(finite.max()) if finite.size else None,
        colorbar=dict(title="acc. %", thickness=12), xgap=2, ygap=2, hoverongaps=False,
        hovertemplate="%{y} · %{x}<br>accuracy %{z:.2f}% (median of %{customdata})<extra></extra>"))
    fig.update_xaxes(type="category", title=chart(median.columns.name or ""), side="bottom")
    fig.update_yaxes(type="category", title=chart(median.index.name or ""), autorange="reversed")
    height = max(260, 90 + 46 * len(y))
    return _layout(fig, title, height=min(height, 900))


def search_cost_bars(table: pd.DataFrame, keys: list[str], title: str = "Search cost per combination") -> go.Figure:
    """Bars of each combination's search cost (retraining epochs per run, at its last round so
    far); the hover gives its accuracy and how many of its jobs finished."""
    labels = [", ".join(f"{k}={row[k]}" for k in keys) or "all jobs" for _, row in table.iterrows()]
    cost = pd.to_numeric(table.get("search cost", pd.Series(dtype=float)), errors="coerce")
    accuracy = pd.to_numeric(table.get("accuracy %", pd.Series(dtype=float)), errors="coerce")
    fig = go.Figure(go.Bar(
        x=[chart(label) for label in labels], y=cost, marker_color=PALETTE[0],
        customdata=np.stack([accuracy.fillna(np.nan), table["jobs"].astype(str)], axis=1) if len(table) else None,
        text=[("" if np.isnan(c) else f"{c:.0f}") for c in cost], textposition="outside",
        hovertemplate="%{x}<br>search cost %{y:.0f} epochs<br>accuracy %{customdata[0]:.2f}%"
                      "<br>jobs finished %{customdata[1]}<extra></extra>"))
    fig.update_xaxes(type="category", title="combination")
    fig.update_yaxes(title="retraining epochs (per run)", rangemode="tozero")
    return _layout(fig, title)


def accuracy_vs_cost(table: pd.DataFrame, keys: list[str],
                     title: str = "Accuracy vs search cost per combination") -> go.Figure:
    """One marker per combination: its accuracy % at its last round so far (median, with min–max
    error bars) against its search cost (retraining epochs per run)."""
    rows = table.dropna(subset=["search cost", "accuracy %"]) if len(table) else table
    fig = go.Figure()
    for i, (_, row) in enumerate(rows.iterrows()):
        label = chart(", ".join(f"{k}={row[k]}" for k in keys) or "all jobs")
        fig.add_trace(go.Scatter(
            x=[row["search cost"]], y=[row["accuracy %"]], mode="markers", name=label,
            marker=dict(size=11, color=PALETTE[i % len(PALETTE)], line=dict(color="black", width=1)),
            error_y=dict(type="data", symmetric=False, array=[row["max %"] - row["accuracy %"]],
                         arrayminus=[row["accuracy %"] - row["min %"]]),
            hovertemplate=f"{label}<br>search cost %{{x:.0f}} epochs<br>accuracy %{{y:.2f}}%<extra></extra>"))
    fig.update_xaxes(title="search cost (retraining epochs per run)", rangemode="tozero")
    fig.update_yaxes(title="test accuracy (%)")
    return _layout(fig, title)
