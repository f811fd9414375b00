"""Figure builders: pure functions from event tables, masks and schedules to plotly figures.

Nothing here reads the store or touches Streamlit, so the Monitor and Compare pages, exports and
the unit tests all draw from the same code. Conventions (as in the lottery-ticket papers):

* accuracy vs remaining weights: x = % of prunable weights remaining, log scale, decreasing to
  the right (100 % = the dense network, drawn as a star); several repeats draw the median per
  round and a shaded min–max band.
* mask heatmaps: rows = output units / filters, columns = inputs / input channels; a conv cell is
  the fraction of its k×k kernel that survives; a block-averaged cell is the fraction kept in the
  block. 0 (pruned) is light grey, 1 (kept) dark blue.
* Jaccard distance between two masks of a layer: over kept entries, d = 1 − |A ∩ B| / |A ∪ B|
  (0 = the same weights survive, 1 = disjoint; two empty masks have distance 0).

Plotly renders a subset of HTML in titles, legends, tick and hover labels (a job named
``<a href=…>`` would become a live link). Every text that comes from outside this module — job
names and labels, layer names, variants, titles — goes through :func:`ui.text.chart` (``&``, ``<``,
``>`` as entities) here, so callers pass plain text.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pruning_core.summary import split_variants

from .text import chart

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
PRUNED_COLOR, KEPT_COLOR = "#e8e8e8", "#08306b"
MASK_COLORSCALE = [[0.0, PRUNED_COLOR], [0.5, "#6baed6"], [1.0, KEPT_COLOR]]
HEIGHT = 340


def _layout(fig: go.Figure, title: str, height: int = HEIGHT, markup: bool = False, **kwargs) -> go.Figure:
    """Title top left (plain text, escaped, unless ``markup`` says it holds the builder's own HTML),
    the legend (when plotly draws one) under the x axis."""
    title = title if markup else chart(title)
    legend = sum(t.showlegend is not False for t in fig.data) > 1 or any(t.showlegend for t in fig.data)
    fig.update_layout(title=dict(text=title, x=0.0, xanchor="left", font=dict(size=15)), height=height,
                      margin=dict(l=60, r=20, t=60, b=100 if legend else 50),
                      legend=dict(orientation="h", yref="container", y=0.0, yanchor="bottom", xanchor="left", x=0.0),
                      **kwargs)
    return fig


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


# ---- accuracy vs remaining weights -----------------------------------------------------------

def round_stats(rounds: pd.DataFrame) -> pd.DataFrame:
    """Per round: % remaining (median), accuracy % median / min / max over repeats, and n."""
    g = rounds.groupby("round")
    return pd.DataFrame({
        "remaining": 100 * g["remaining_fraction"].median(),
        "median": 100 * g["test_accuracy"].median(),
        "min": 100 * g["test_accuracy"].min(),
        "max": 100 * g["test_accuracy"].max(),
        "n": g.size(),
    }).reset_index()


def _remaining_ticks(values: list[float]) -> list[float]:
    ticks = [100, 50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01]
    lo = min(values) if values else 1.0
    return [t for t in ticks if t >= lo * 0.7]


def accuracy_vs_remaining(runs: pd.DataFrame | dict[str, pd.DataFrame],
                          title: str = "Test accuracy vs weights remaining",
                          band: bool = True) -> go.Figure:
    """Accuracy after each round against % weights remaining (log x, decreasing to the right).

    ``runs`` is one rounds table or {label: rounds table} to overlay several jobs. A table with
    several repeats is drawn as its median per round with a min–max band (hover shows n)."""
    runs = {"run": runs} if isinstance(runs, pd.DataFrame) else runs
    fig = go.Figure()
    all_x: list[float] = []
    for i, (label, rounds) in enumerate(runs.items()):
        if rounds is None or not len(rounds):
            continue
        color = PALETTE[i % len(PALETTE)]
        shown = chart(label)
        rounds, variants = split_variants(rounds)
        for j, (variant, rows) in enumerate(variants.items()):
            v = round_stats(rows)
            fig.add_trace(go.Scatter(
                x=v["remaining"], y=v["median"], mode="markers", name=f"{shown} · {chart(variant)}", legendgroup=shown,
                marker=dict(symbol=["diamond", "square", "triangle-up", "cross"][j % 4], size=11, color=color,
                            line=dict(color="black", width=1)),
                error_y=dict(type="data", symmetric=False, array=v["max"] - v["median"],
                             arrayminus=v["median"] - v["min"], visible=bool(v["n"].max() > 1)),
                hovertemplate=f"{chart(variant)}<br>%{{x:.2f}}% remaining<br>accuracy %{{y:.2f}}%<extra></extra>"))
        if not len(rounds):
            continue
        stats = round_stats(rounds)
        all_x += list(stats["remaining"])
        several = int(stats["n"].max()) > 1
        if several and band:
            fig.add_trace(go.Scatter(x=list(stats["remaining"]) + list(stats["remaining"][::-1]),
                                     y=list(stats["max"]) + list(stats["min"][::-1]), fill="toself",
                                     fillcolor=_rgba(color, 0.18), line=dict(width=0), hoverinfo="skip",
                                     name=f"{shown} min–max", legendgroup=shown, showlegend=True))
        name = f"{shown} (median of {int(stats['n'].max())})" if several else shown
        fig.add_trace(go.Scatter(
            x=stats["remaining"], y=stats["median"], mode="lines+markers", name=name, legendgroup=shown,
            line=dict(color=color, width=2), marker=dict(size=7, color=color),
            customdata=np.stack([stats["round"], stats["min"], stats["max"], stats["n"]], axis=1),
            hovertemplate="round %{customdata[0]}<br>%{x:.2f}% remaining<br>accuracy %{y:.2f}%"
                          "<br>min %{customdata[1]:.2f}, max %{customdata[2]:.2f} (n=%{customdata[3]})<extra></extra>"))
        dense = stats[stats["round"] == 0]
        if len(dense):
            fig.add_trace(go.Scatter(x=dense["remaining"], y=dense["median"], mode="markers", name="dense",
                                     legendgroup="dense", showlegend=i == 0,
                                     marker=dict(symbol="star", size=15, color=color,
                                                 line=dict(color="black", width=1)),
                                     hovertemplate="dense network<br>accuracy %{y:.2f}%<extra></extra>"))
    ticks = _remaining_ticks(all_x)
    fig.update_xaxes(type="log", autorange="reversed", title="weights remaining (%, log scale)",
                     tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    fig.update_yaxes(title="test accuracy (%)")
    return _layout(fig, title)


# ---- per-epoch curves ------------------------------------------------------------------------

def epoch_curves(epochs: pd.DataFrame, round_index: int, title: str | None = None) -> go.Figure:
    """Test accuracy, train/test loss and learning rate per epoch of one round (one line per repeat)."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=("test accuracy (%)", "loss (solid: test, dotted: train)", "learning rate"))
    data = epochs[epochs["round"] == round_index] if len(epochs) else epochs
    for i, (repeat, part) in enumerate(data.groupby("repeat") if len(data) else []):
        color = PALETTE[int(i) % len(PALETTE)]
        tag = f"repeat {int(repeat)}"
        common = dict(mode="lines+markers", legendgroup=tag, marker=dict(size=5))
        fig.add_trace(go.Scatter(x=part["epoch"], y=100 * part["test_accuracy"], name=tag,
                                 line=dict(color=color), **common), row=1, col=1)
        fig.add_trace(go.Scatter(x=part["epoch"], y=part["test_loss"], name=f"{tag} test loss", showlegend=False,
                                 line=dict(color=color), **common), row=2, col=1)
        fig.add_trace(go.Scatter(x=part["epoch"], y=part["train_loss"], name=f"{tag} train loss", showlegend=False,
                                 line=dict(color=color, dash="dot"), **common), row=2, col=1)
        fig.add_trace(go.Scatter(x=part["epoch"], y=part["lr"], name=f"{tag} lr", showlegend=False,
                                 line=dict(color=color, shape="hv"), **common), row=3, col=1)
    fig.update_xaxes(title="epoch within the round", row=3, col=1, dtick=1)
    top = float(data["lr"].max()) if len(data) and data["lr"].notna().any() else 1.0
    fig.update_yaxes(exponentformat="e", range=[0, 1.15 * top if top > 0 else 1.0], row=3, col=1)
    title = title or (f"Training curves, round {round_index}" + (" (dense)" if round_index == 0 else ""))
    return _layout(fig, title, height=560)


# ---- masks -----------------------------------------------------------------------------------

def _nanmean(a: np.ndarray, axis) -> np.ndarray:
    """Mean ignoring NaN (all-NaN cells stay NaN, without a warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


def mask_grid(values: np.ndarray, max_side: int = 160) -> tuple[np.ndarray, tuple[int, int]]:
    """A 2-D grid from a layer mask (or weights): linear (out, in) as is, conv (out, in, kh, kw)
    → mean over the kernel, 1-D → one row; then block means (NaN-aware) so that no side exceeds
    ``max_side``. Returns (grid, (block rows, block cols))."""
    a = np.asarray(values, dtype=float)
    if a.ndim == 1:
        a = a[None, :]
    elif a.ndim > 2:
        a = _nanmean(a.reshape(a.shape[0], a.shape[1], -1), axis=2)
    rows, cols = a.shape
    br, bc = max(1, math.ceil(rows / max_side)), max(1, math.ceil(cols / max_side))
    if br == 1 and bc == 1:
        return a, (1, 1)
    padded = np.full((math.ceil(rows / br) * br, math.ceil(cols / bc) * bc), np.nan)
    padded[:rows, :cols] = a
    blocks = padded.reshape(padded.shape[0] // br, br, padded.shape[1] // bc, bc)
    return _nanmean(blocks, axis=(1, 3)), (br, bc)


def mask_heatmap(mask: np.ndarray, weights: np.ndarray | None = None, name: str = "", max_side: int = 160,
                 height: int = 300) -> go.Figure:
    """Heatmap of one layer's mask (fraction kept per cell), or with ``weights`` the |w| of the
    kept weights (pruned cells left blank, i.e. the grey background)."""
    mask = np.asarray(mask, dtype=bool)
    conv = mask.ndim > 2
    if weights is None:
        grid, block = mask_grid(mask, max_side)
        trace = go.Heatmap(z=grid, zmin=0.0, zmax=1.0, colorscale=MASK_COLORSCALE, xgap=0, ygap=0,
                           colorbar=dict(title="kept", tickvals=[0, 0.5, 1], ticktext=["0 pruned", "0.5", "1 kept"],
                                         thickness=10, len=0.9),
                           hovertemplate="out %{y}, in %{x}<br>fraction kept %{z:.3f}<extra></extra>")
    else:
        magnitude = np.where(mask, np.abs(np.asarray(weights, dtype=float)), np.nan)
        grid, block = mask_grid(magnitude, max_side)
        trace = go.Heatmap(z=grid, colorscale="Viridis", colorbar=dict(title="|w|", thickness=10, len=0.9),
                           hovertemplate="out %{y}, in %{x}<br>mean |w| of kept %{z:.4f}<extra></extra>")
    if block != (1, 1):
        ys = np.arange(grid.shape[0]) * block[0]
        xs = np.arange(grid.shape[1]) * block[1]
        trace.update(x=xs, y=ys)
    fig = go.Figure(trace)
    kept = float(mask.mean()) if mask.size else 0.0
    unit = "filter" if conv else "unit"
    sub = f"{tuple(mask.shape)}, {100 * kept:.1f}% kept"
    if conv:
        sub += ", cell = fraction of the kernel kept" if weights is None else ", cell = mean |w| over the kernel"
    if block != (1, 1):
        sub += f", {block[0]}×{block[1]} block means"
    fig.update_xaxes(title=f"input {'channel' if conv else 'unit'}", showgrid=False, zeroline=False)
    fig.update_yaxes(title=f"output {unit}", autorange="reversed", showgrid=False, zeroline=False)
    fig.update_layout(plot_bgcolor="#ffffff" if weights is None else PRUNED_COLOR)
    fig = _layout(fig, f"{chart(name)}<br><sup>{chart(sub)}</sup>", height=height, markup=True)
    fig.update_layout(margin=dict(l=55, r=10, t=60, b=45))
    return fig


def jaccard_bars(table: pd.DataFrame, title: str = "Mask Jaccard distance per layer") -> go.Figure:
    """Grouped bars: rows of ``table`` are layers, columns are compared pairs."""
    layers = [chart(x) for x in table.index]
    fig = go.Figure([go.Bar(x=layers, y=table[c], name=chart(c), marker_color=PALETTE[i % len(PALETTE)],
                            hovertemplate="%{x}<br>d = %{y:.3f}<extra></extra>") for i, c in enumerate(table.columns)])
    fig.update_yaxes(title="1 − |A∩B| / |A∪B| (kept weights)", range=[0, 1])
    return _layout(fig, title, barmode="group")


def layer_sparsity_bars(layer_sparsity: dict[str, float], global_sparsity: float | None = None,
                        title: str = "Sparsity per layer") -> go.Figure:
    """Bars of each layer's sparsity (%), with the global sparsity as a dashed line."""
    names = list(layer_sparsity)
    values = [100 * layer_sparsity[n] for n in names]
    fig = go.Figure(go.Bar(x=[chart(n) for n in names], y=values, marker_color=PALETTE[0],
                           text=[f"{v:.1f}%" for v in values], textposition="inside", insidetextanchor="end",
                           hovertemplate="%{x}<br>%{y:.2f}% pruned<extra></extra>"))
    if global_sparsity is not None:
        fig.add_hline(y=100 * global_sparsity, line_dash="dash", line_color="#444",
                      annotation_text=f"global {100 * global_sparsity:.1f}%", annotation_position="top left",
                      annotation_bgcolor="rgba(255,255,255,0.8)")
    fig.update_yaxes(title="pruned (%)", range=[0, 108])
    return _layout(fig, title)


# ---- schedules -------------------------------------------------------------------------------

def lr_curve(epochs: list) -> tuple[list[float], list[float]]:
    """(global epochs, η) of a plan's epochs laid end to end (``Plan.epochs``), for :func:`lr_schedule`."""
    return [t for p in epochs for t in p.lr_t], [v for p in epochs for v in p.lr]


def sparsity_schedule(plan: list, current_epoch: float | None = None, measured: pd.DataFrame | None = None,
                      title: str = "Planned sparsity per epoch") -> go.Figure:
    """Planned global sparsity of every epoch of the run (``Plan.epochs``: a step per round; a gap
    where a threshold decides at run time), measured sparsity from epoch events as dots, and a
    vertical marker at the current epoch."""
    xs, ys = [], []
    for p in plan:
        xs += [p.index, p.index + 1, None]
        ys += [None if p.sparsity is None else 100 * p.sparsity] * 2 + [None]
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines", name="planned", line=dict(color=PALETTE[0], width=2),
                               hovertemplate="epoch %{x:.0f}<br>%{y:.2f}% pruned<extra></extra>"))
    if measured is not None and len(measured):
        fig.add_trace(go.Scatter(x=measured["global_epoch"] - 0.5, y=100 * measured["sparsity"], mode="markers",
                                 name="measured", marker=dict(color=PALETTE[1], size=5)))
    if current_epoch is not None:
        fig.add_vline(x=current_epoch, line_color=PALETTE[1], line_dash="dot",
                      annotation_text=f"now: epoch {current_epoch:g}", annotation_position="top left")
    fig.update_xaxes(title="epoch (all rounds end to end)")
    fig.update_yaxes(title="sparsity (%)", range=[-2, 102])
    return _layout(fig, title)


def lr_schedule(curves: dict[str, tuple[list, list]], current_epoch: float | None = None,
                title: str = "Learning rate over the run") -> go.Figure:
    """One LR curve per label ({label: (epochs, lr)}), with an optional current-epoch marker."""
    fig = go.Figure([go.Scatter(x=x, y=y, mode="lines", name=chart(label),
                                line=dict(color=PALETTE[i % len(PALETTE)], width=2, dash="solid" if i == 0 else "dash"))
                     for i, (label, (x, y)) in enumerate(curves.items())])
    if current_epoch is not None:
        fig.add_vline(x=current_epoch, line_color=PALETTE[1], line_dash="dot")
    fig.update_xaxes(title="epoch (all rounds end to end)")
    fig.update_yaxes(title="learning rate", exponentformat="e", rangemode="tozero")
    return _layout(fig, title)


def curve_figure(curves: dict[str, tuple[list, list]], title: str, x_title: str, y_title: str = "sparsity (%)",
                 percent: bool = True, markers: bool = False) -> go.Figure:
    """Generic overlay of schedule curves ({label: (x, y)}); ``percent`` scales y by 100."""
    scale = 100.0 if percent else 1.0
    fig = go.Figure([go.Scatter(x=list(x), y=[scale * v for v in y], name=chart(label),
                                mode="lines+markers" if markers else "lines",
                                line=dict(color=PALETTE[i % len(PALETTE)], width=2))
                     for i, (label, (x, y)) in enumerate(curves.items())])
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title=y_title, range=[-2, 102] if percent else None)
    return _layout(fig, title)


def sigmoid_schedule(values: list[float], title: str = "s_e = α · sigmoid((e − βE) / γ)") -> go.Figure:
    return curve_figure({"s_e": (list(range(1, len(values) + 1)), values)}, title, "epoch e",
                        markers=len(values) <= 60)


def polynomial_schedule(values: list[float],
                        title: str = "s_e = s_f + (s_i − s_f)(1 − (e − t₀) / (t_end − t₀))³") -> go.Figure:
    return curve_figure({"s_e": (list(range(1, len(values) + 1)), values)}, title, "epoch e",
                        markers=len(values) <= 60)


def geometric_schedule(values: list[float], title: str = "s_r = 1 − (1 − p)^r") -> go.Figure:
    fig = curve_figure({"s_r": (list(range(len(values))), values)}, title, "round r", markers=True)
    fig.update_traces(line_shape="linear")
    fig.update_xaxes(dtick=1 if len(values) <= 25 else None)
    return fig


# ---- analyses (effective sparsity, stability, mask dynamics) ------------------------------------

def _per_round_median(rounds: pd.DataFrame, column: str) -> pd.Series:
    return rounds.groupby("round")[column].median()


def explicit_vs_effective(rounds: pd.DataFrame, title: str = "Explicit vs effective sparsity") -> go.Figure:
    """Per round (median over repeats): sparsity counting pruned weights only, and counting also the
    weights that downstream pruning disconnected (effective sparsity)."""
    fig = go.Figure()
    for i, (column, name) in enumerate((("sparsity", "explicit"), ("effective_sparsity", "effective"))):
        if column in rounds and rounds[column].notna().any():
            values = 100 * _per_round_median(rounds.dropna(subset=[column]), column)
            fig.add_scatter(x=values.index, y=values.values, mode="lines+markers", name=name,
                            line=dict(color=PALETTE[i], dash="dash" if i else "solid"))  # visible when equal
    fig.update_xaxes(title="round")
    fig.update_yaxes(title="sparsity (%)", range=[0, 100])
    return _layout(fig, title)


def stability_per_round(rounds: pd.DataFrame, title: str = "Weight stability across rounds") -> go.Figure:
    """Per round r ≥ 1 (median over repeats): mean |w_r − w_{r−1}| over weights alive in both
    (Paganini & Forde Fig. 8) and the L2 distance of the trained sparse weights to the dense ones."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("mean |w_r − w_(r−1)|", "‖m ⊙ (w_r − w_dense)‖₂"))
    if "weight_stability" in rounds:
        rows = rounds.dropna(subset=["weight_stability"])
        values = pd.Series([ws.get("__model__") for ws in rows["weight_stability"]], index=rows["round"].values,
                           dtype=float).groupby(level=0).median()
        fig.add_scatter(x=values.index, y=values.values, mode="lines+markers", name="weight stability",
                        line=dict(color=PALETTE[0]), row=1, col=1)
    if "stability_to_pruning" in rounds and rounds["stability_to_pruning"].notna().any():
        values = _per_round_median(rounds.dropna(subset=["stability_to_pruning"]), "stability_to_pruning")
        fig.add_scatter(x=values.index, y=values.values, mode="lines+markers", name="distance to dense",
                        line=dict(color=PALETTE[1]), row=1, col=2)
    fig.update_xaxes(title="round")
    return _layout(fig, title, showlegend=False)


def mask_dynamics(epochs: pd.DataFrame, title: str = "Mask dynamics (AIMP §V-F)") -> go.Figure:
    """Per epoch of the first repeat, all rounds end to end: D and D̃ (% of the potential mask that
    changed since the previous epoch, of the current / original weight count), and L∞."""
    first = epochs[epochs["repeat"] == epochs["repeat"].min()].reset_index(drop=True)
    x = first.index + 1
    fig = make_subplots(rows=1, cols=2, subplot_titles=("D and D̃ (%)", "L∞ of the weights"))
    for i, (column, name) in enumerate((("mask_change_D", "D"), ("mask_change_D_tilde", "D̃"))):
        if column in first:
            fig.add_scatter(x=x, y=100 * first[column], mode="lines+markers", name=name,
                            line=dict(color=PALETTE[i]), row=1, col=1)
    if "linf" in first:
        fig.add_scatter(x=x, y=first["linf"], mode="lines", name="L∞", line=dict(color=PALETTE[2]), row=1, col=2)
    fig.update_xaxes(title="epoch (all rounds end to end)")
    return _layout(fig, title)
