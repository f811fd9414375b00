"""The Schedules playground: sparsity and LR schedules redrawn as sliders move; no training.

Sigmoid (ASNI, s_e = α·sigmoid((e − βE)/γ)), polynomial (Zhu & Gupta), IMP's geometric schedule,
and the retraining LR policies (WR/LRR replay the schedule from epoch k, FT holds the last LR).
"Copy into a new experiment" sends the chosen schedule (with the LR settings for IMP) to the
Experiment form.
"""

from __future__ import annotations

import streamlit as st

from pruning_core import schedules as engine_schedules
from pruning_core.config import Config, ConfigError

from . import figures, schedules, state

POLICIES = {"weights": "WR: rewind weights and LR to epoch k", "lr": "LRR: keep weights, replay LR from k",
            "none": "FT: keep weights, constant last LR"}


def sigmoid_section() -> dict:
    st.subheader("Sigmoid (ASNI)")
    c = st.columns(4)
    alpha = c[0].slider("α (final sparsity)", 0.01, 0.99, 0.9, 0.01, key="sig_alpha")
    beta = c[1].slider("β (midpoint, fraction of E)", 0.0, 1.0, 0.5, 0.01, key="sig_beta")
    gamma = c[2].slider("γ (width, epochs)", 0.1, 30.0, 4.0, 0.1, key="sig_gamma")
    epochs = c[3].slider("E (epochs)", 2, 300, 60, 1, key="sig_epochs")
    values = engine_schedules.sigmoid_schedule(alpha, beta, gamma, epochs)
    st.plotly_chart(figures.sigmoid_schedule(values), key="fig_sigmoid")
    st.session_state["play_sigmoid"] = values
    return {"algorithm.name": "asni", "algorithm.sigmoid_alpha": float(alpha), "algorithm.sigmoid_beta": float(beta),
            "algorithm.sigmoid_gamma": float(gamma), "algorithm.target_sparsity": None, "training.epochs": int(epochs)}


def polynomial_section() -> dict:
    st.subheader("Polynomial (Zhu & Gupta)")
    c = st.columns(4)
    s_i = c[0].slider("s_i (initial)", 0.0, 0.99, 0.0, 0.01, key="poly_si")
    s_f = c[1].slider("s_f (final)", 0.01, 0.99, 0.9, 0.01, key="poly_sf")
    epochs = c[3].slider("E (epochs)", 2, 300, 60, 1, key="poly_epochs")
    ramp = st.session_state.get("poly_ramp")
    if ramp is not None and max(ramp) > epochs:
        st.session_state["poly_ramp"] = (min(ramp[0], epochs - 1), epochs)
    start, end = c[2].slider("t₀ … t_end (ramp)", 0, epochs, (0, (3 * epochs + 3) // 4), 1, key="poly_ramp")
    end = max(end, start + 1)
    values = engine_schedules.polynomial_schedule(s_i, s_f, start, end, epochs)
    st.plotly_chart(figures.polynomial_schedule(values), key="fig_poly")
    st.session_state["play_poly"] = values
    if s_i > 0:
        st.caption("The engine's gradual run starts dense (s_i = 0): s_i is not copied.")
    return {"algorithm.name": "gradual", "algorithm.target_sparsity": float(s_f), "algorithm.gradual_start": int(start),
            "algorithm.gradual_end": int(end), "training.epochs": int(epochs)}


def geometric_section() -> tuple[float, int]:
    st.subheader("IMP (geometric)")
    c = st.columns(2)
    rate = c[0].slider("p (pruning rate per round)", 0.01, 0.95, 0.2, 0.01, key="geo_rate")
    rounds = c[1].slider("R (rounds)", 1, 60, 10, 1, key="geo_rounds")
    values = engine_schedules.geometric_sparsity(rate, rounds)
    st.plotly_chart(figures.geometric_schedule(values), key="fig_geo")
    st.caption(f"After {rounds} rounds: {100 * values[-1]:.2f}% pruned, {100 * (1 - values[-1]):.2f}% remaining.")
    st.session_state["play_geo"] = values
    return rate, rounds


def overlay_section() -> None:
    """The three sparsity schedules on a common axis: fraction of the pruning phase."""
    curves = {}
    for key, label in (("play_sigmoid", "sigmoid (after epoch e / E)"), ("play_poly", "polynomial (after epoch e / E)"),
                       ("play_geo", "IMP geometric (after round r / R)")):
        values = st.session_state.get(key) or []
        if key == "play_geo" and len(values) > 1:
            curves[label] = ([i / (len(values) - 1) for i in range(len(values))], values)
        elif values:
            curves[label] = ([(i + 1) / len(values) for i in range(len(values))], values)
    st.plotly_chart(figures.curve_figure(curves, "All three on one axis", "fraction of the pruning phase"),
                    key="fig_overlay")


def lr_section(rounds: int) -> dict | None:
    st.subheader("Retraining LR policies")
    c = st.columns(5)
    epochs = c[0].number_input("T (epochs)", 1, 500, 30, key="lr_T")
    k = c[1].number_input("k (rewind epoch)", 0, 499, 5, key="lr_k")
    lr = c[2].number_input("η₁ (initial LR)", 1e-6, 10.0, 0.1, format="%g", key="lr_eta")
    kind = c[3].selectbox("Schedule", ["constant", "step", "cosine", "linear"], index=1, key="lr_kind")
    policy = c[4].selectbox("Policy to copy", list(POLICIES), format_func=POLICIES.get, key="lr_policy")
    milestones = []
    if kind == "step":
        raw = st.text_input("Milestones (comma-separated epochs)", f"{epochs // 2}, {3 * epochs // 4}", key="lr_ms")
        milestones = [int(x) for x in raw.split(",") if x.strip().lstrip("-").isdigit()]
    values = {"training.epochs": int(epochs), "algorithm.rewind_epoch": int(k), "training.lr": float(lr),
              "training.lr_schedule": kind, "training.milestones": milestones if kind == "step" else [],
              "algorithm.rewind": policy}
    shown_rounds = min(rounds, 5)
    try:
        config = Config().replace(**values, **{"algorithm.rounds": shown_rounds})
    except ConfigError as exc:
        for e in exc.errors:
            st.error(f"`{e.field}`: got {e.value!r}; allowed: {e.allowed}")
        return None
    title = f"LR over dense training + {shown_rounds} rounds (T = {epochs}, k = {k})"
    st.plotly_chart(figures.lr_schedule(schedules.lr_policies(config), title=title), key="fig_lr")
    st.caption("WR and LRR follow the same LR (they differ in the weights: rewound vs kept); FT trains at the "
               "last LR of the original schedule. The BIMP paper's policies (LRW, SLR, CLR, LLR, ALLR) are chosen on "
               "the Experiment page; they are not drawn here yet.")
    return values


def view() -> None:
    left, right = st.columns(2, gap="large")
    with left:
        sigmoid_values = sigmoid_section()
    with right:
        poly_values = polynomial_section()
    left, right = st.columns(2, gap="large")
    with left:
        rate, rounds = geometric_section()
    with right:
        overlay_section()
    lr_values = lr_section(rounds)
    st.divider()
    choices = {"imp": "IMP: geometric p, R + the LR settings above", "asni": "ASNI: the sigmoid's α, β, γ, E",
               "gradual": "Gradual: the polynomial's s_f, t₀, t_end, E"}
    which = st.radio("Copy which schedule", list(choices), format_func=choices.get, horizontal=True, key="copy_which")
    values = {"imp": {"algorithm.name": "imp", "algorithm.rate": float(rate), "algorithm.rounds": int(rounds),
                      "algorithm.target_sparsity": None, **(lr_values or {})},
              "asni": sigmoid_values, "gradual": poly_values}[which]
    try:
        Config().replace(**values)
        problem = None if which != "imp" or lr_values is not None else "fix the LR settings above"
    except ConfigError as exc:
        problem = "; ".join(f"{e.field}: {e.allowed}" for e in exc.errors)
    if problem:
        st.error(f"Cannot copy: {problem}")
    if st.button("Copy into a new experiment", type="primary", key="copy", disabled=problem is not None):
        state.send_to_experiment(values)
        st.switch_page("pages/1_Experiment.py")
