"""The Schedules playground: sparsity and LR schedules redrawn as their options change; no training.

Everything comes from the registries and the engine's own torch-free code, so a plug-in schedule
or LR policy appears here without editing this page:

* every registered sparsity schedule of gradual pruning, with widgets generated from its options;
* IMP's geometric schedule s_r = 1 − (1 − p)^r;
* every registered retraining LR policy over the dense training and a few rounds, from the same
  ``plan()`` the engine runs (ALLR drawn at d = 1).

"Copy into a new experiment" sends the chosen schedule to the Experiment form.
"""

from __future__ import annotations

import streamlit as st

from pruning_core import schedules as engine_schedules
from pruning_core.config import Config, ConfigError
from pruning_core.config.values import flat_values
from pruning_core.registry import LR_POLICIES, SCHEDULES

from . import figures, state
from .widgets import nest, options_form

SHOWN_ROUNDS = 3


def schedule_section(name: str) -> tuple[dict, list[float]]:
    """One registered sparsity schedule: its options, E, and its curve; returns (values to copy, curve)."""
    cls = SCHEDULES.get(name)
    st.subheader(SCHEDULES.entry(name).label)
    st.caption(SCHEDULES.entry(name).help)
    epochs = st.slider("E (epochs)", 2, 300, 60, 1, key=f"play:{name}:epochs")
    options = options_form(cls, "algorithm.schedule.", f"play:{name}:")
    schedule = {"name": name, **{k.rsplit(".", 1)[-1]: v for k, v in options.items()}}
    values = {"algorithm.name": "gradual", "algorithm.schedule": schedule, "training.epochs": int(epochs)}
    try:
        config = Config.from_dict(nest(values))
    except ConfigError as exc:
        for e in exc.errors:
            st.error(f"`{e.field}`: got {e.value!r}; allowed: {e.allowed}")
        return values, []
    curve = config.algorithm.schedule.sparsities(epochs)
    st.plotly_chart(figures.curve_figure({"s_e": (list(range(1, epochs + 1)), curve)}, "Sparsity after each epoch",
                                         "epoch e", markers=epochs <= 60), key=f"fig_{name}")
    return values, curve


def geometric_section() -> tuple[float, int, list[float]]:
    st.subheader("IMP (geometric)")
    c = st.columns(2)
    rate = c[0].slider("p (pruning rate per round)", 0.01, 0.95, 0.2, 0.01, key="geo_rate")
    rounds = c[1].slider("R (rounds)", 1, 60, 10, 1, key="geo_rounds")
    values = engine_schedules.geometric_sparsity(rate, rounds)
    st.plotly_chart(figures.geometric_schedule(values), key="fig_geo")
    st.caption(f"After {rounds} rounds: {100 * values[-1]:.2f}% pruned, {100 * (1 - values[-1]):.2f}% remaining.")
    return rate, rounds, values


def overlay_section(curves: dict[str, list[float]], geometric: list[float]) -> None:
    """Every sparsity schedule on a common axis: fraction of the pruning phase."""
    lines = {f"{name} (after epoch e / E)": ([(i + 1) / len(v) for i in range(len(v))], v)
             for name, v in curves.items() if v}
    lines["IMP geometric (after round r / R)"] = ([i / (len(geometric) - 1) for i in range(len(geometric))], geometric)
    st.plotly_chart(figures.curve_figure(lines, "All of them on one axis", "fraction of the pruning phase"),
                    key="fig_overlay")


def lr_section() -> dict | None:
    """The original schedule and every registered retraining LR policy over the dense training and a
    few rounds (IMP, weights kept), computed by the engine's plan."""
    st.subheader("Retraining LR policies")
    c = st.columns(5)
    epochs = c[0].number_input("T (epochs)", 1, 500, 30, key="lr_T")
    k = c[1].number_input("k (rewind epoch)", 0, 499, 5, key="lr_k")
    lr = c[2].number_input("η₁ (initial LR)", 1e-6, 10.0, 0.1, format="%g", key="lr_eta")
    kind = c[3].selectbox("Schedule", ["constant", "step", "cosine", "linear"], index=1, key="lr_kind")
    policy = c[4].selectbox("Policy to copy", list(LR_POLICIES.names()), key="lr_policy",
                            format_func=lambda n: LR_POLICIES.entry(n).label)
    milestones = []
    if kind == "step":
        raw = st.text_input("Milestones (comma-separated epochs)", f"{epochs // 2}, {3 * epochs // 4}", key="lr_ms")
        milestones = [int(x) for x in raw.split(",") if x.strip().lstrip("-").isdigit()]
    values = {"training.epochs": int(epochs), "algorithm.rewind_epoch": int(k), "training.lr": float(lr),
              "training.lr_schedule": kind, "training.milestones": milestones if kind == "step" else [],
              "algorithm.lr_policy": {"name": policy},
              "algorithm.treatment": "rewind" if policy == "replay" else "keep"}
    curves, problem = {}, None
    for name in LR_POLICIES.names():
        variant = {**values, "algorithm.lr_policy": {"name": name}, "algorithm.treatment": "keep",
                   "algorithm.rounds": SHOWN_ROUNDS}
        try:
            config = Config.from_dict(nest(variant))
        except ConfigError as exc:
            problem = problem or exc
            continue
        curves[LR_POLICIES.entry(name).label] = figures.lr_curve(config.plan().epochs(config.training))
    if problem is not None and not curves:
        for e in problem.errors:
            st.error(f"`{e.field}`: got {e.value!r}; allowed: {e.allowed}")
        return None
    title = f"LR over the dense training + {SHOWN_ROUNDS} rounds (T = {epochs}, k = {k})"
    st.plotly_chart(figures.lr_schedule(curves, title=title), key="fig_lr")
    st.caption("replay is the original schedule from epoch k (weight or learning-rate rewinding); the others "
               "retrain T − k epochs each. ALLR is drawn at d = 1: a run multiplies it by the d it measures when "
               "it prunes.")
    return values


def view() -> None:
    names = list(SCHEDULES.names())
    curves, schedule_values = {}, {}
    for column, name in zip(st.columns(len(names), gap="large"), names):
        with column:
            schedule_values[name], curves[name] = schedule_section(name)
    left, right = st.columns(2, gap="large")
    with left:
        rate, rounds, geometric = geometric_section()
    with right:
        overlay_section(curves, geometric)
    lr_values = lr_section()
    st.divider()
    choices = {"imp": "IMP: geometric p, R and the LR settings above",
               **{f"gradual:{n}": f"Gradual pruning on the {n} schedule" for n in names}}
    if "sigmoid" in names:
        choices["asni"] = "ASNI: the sigmoid, then ASNI-II"
    which = st.radio("Copy which schedule", list(choices), format_func=choices.get, horizontal=True, key="copy_which")
    if which == "imp":
        values = {"algorithm.name": "imp", "algorithm.rate": float(rate), "algorithm.rounds": int(rounds),
                  **(lr_values or {})}
    elif which == "asni":
        values = {**schedule_values["sigmoid"], "algorithm.name": "asni"}
    else:
        values = schedule_values[which.split(":", 1)[1]]
    flat = flat_values(nest(values))
    try:
        Config.from_dict(nest(flat))
        problem = None if which != "imp" or lr_values is not None else "fix the LR settings above"
    except ConfigError as exc:
        problem = "; ".join(f"{e.field}: {e.allowed}" for e in exc.errors)
    if problem:
        st.error(f"Cannot copy: {problem}")
    if st.button("Copy into a new experiment", type="primary", key="copy", disabled=problem is not None):
        state.send_to_experiment(flat)
        st.switch_page("pages/1_Experiment.py")
