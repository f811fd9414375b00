"""The Schedules playground: sparsity and LR schedules redrawn as sliders move; no training.

Sigmoid (ASNI, s_e = α·sigmoid((e − βE)/γ)), polynomial (Zhu & Gupta), IMP's geometric schedule,
and the retraining LR policies (WR/LRR replay the schedule from epoch k, FT holds the last LR).
"Copy into a new experiment" sends the IMP and LR choices to the Experiment form.
"""

from __future__ import annotations

import streamlit as st

from pruning_core.config import Config, ConfigError

from . import figures, schedules, state

POLICIES = {"weights": "WR: rewind weights and LR to epoch k", "lr": "LRR: keep weights, replay LR from k",
            "none": "FT: keep weights, constant last LR"}


def sigmoid_section() -> None:
    st.subheader("Sigmoid (ASNI)")
    c = st.columns(4)
    alpha = c[0].slider("α (final sparsity)", 0.0, 1.0, 0.9, 0.01, key="sig_alpha")
    beta = c[1].slider("β (midpoint, fraction of E)", 0.0, 1.0, 0.5, 0.01, key="sig_beta")
    gamma = c[2].slider("γ (width, epochs)", 0.1, 30.0, 4.0, 0.1, key="sig_gamma")
    epochs = c[3].slider("E (epochs)", 2, 300, 60, 1, key="sig_epochs")
    values = schedules.sigmoid_sparsity(alpha, beta, gamma, epochs)
    st.plotly_chart(figures.sigmoid_schedule(values), key="fig_sigmoid")
    st.session_state["play_sigmoid"] = values


def polynomial_section() -> None:
    st.subheader("Polynomial (Zhu & Gupta)")
    c = st.columns(3)
    s_i = c[0].slider("s_i (initial sparsity)", 0.0, 1.0, 0.0, 0.01, key="poly_si")
    s_f = c[1].slider("s_f (final sparsity)", 0.0, 1.0, 0.9, 0.01, key="poly_sf")
    n = c[2].slider("n (pruning steps)", 1, 300, 60, 1, key="poly_n")
    values = schedules.polynomial_sparsity(s_i, s_f, n)
    st.plotly_chart(figures.polynomial_schedule(values), key="fig_poly")
    st.session_state["play_poly"] = values


def geometric_section() -> tuple[float, int]:
    st.subheader("IMP (geometric)")
    c = st.columns(2)
    rate = c[0].slider("p (pruning rate per round)", 0.01, 0.95, 0.2, 0.01, key="geo_rate")
    rounds = c[1].slider("R (rounds)", 1, 60, 10, 1, key="geo_rounds")
    values = schedules.geometric_sparsity(rate, rounds)
    st.plotly_chart(figures.geometric_schedule(values), key="fig_geo")
    st.caption(f"After {rounds} rounds: {100 * values[-1]:.2f}% pruned, {100 * (1 - values[-1]):.2f}% remaining.")
    st.session_state["play_geo"] = values
    return rate, rounds


def overlay_section() -> None:
    """The three sparsity schedules on a common axis: fraction of the pruning phase."""
    curves = {}
    for key, label in (("play_sigmoid", "sigmoid"), ("play_poly", "polynomial"), ("play_geo", "IMP geometric")):
        values = st.session_state.get(key) or []
        if len(values) > 1:
            curves[label] = ([i / (len(values) - 1) for i in range(len(values))], values)
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
    st.plotly_chart(figures.lr_schedule(schedules.lr_policies(config),
                                        title=f"LR over dense training + {shown_rounds} rounds (T = {epochs}, k = {k})"),
                    key="fig_lr")
    st.caption("WR and LRR follow the same LR (they differ in the weights: rewound vs kept); FT trains at the "
               "last LR of the original schedule.")
    return values


def view() -> None:
    left, right = st.columns(2, gap="large")
    with left:
        sigmoid_section()
    with right:
        polynomial_section()
    left, right = st.columns(2, gap="large")
    with left:
        rate, rounds = geometric_section()
    with right:
        overlay_section()
    lr_values = lr_section(rounds)
    st.divider()
    st.caption("The engine runs IMP (and AIMP) so far: copying sends the geometric schedule (p, R) and the LR "
               "settings; sigmoid and polynomial schedules are previews until gradual pruning lands.")
    if st.button("Copy into a new experiment", type="primary", key="copy", disabled=lr_values is None):
        state.send_to_experiment({"algorithm.rate": float(rate), "algorithm.rounds": int(rounds),
                                  "algorithm.target_sparsity": None, **(lr_values or {})})
        st.switch_page("pages/1_Experiment.py")
