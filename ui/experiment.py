"""The Experiment page's preview and launch: what the chosen config will build, cost and plan.

Before launching the page shows the parameter count (from ``python -m pruning_core describe`` in a
subprocess, cached), and from the algorithm's ``plan()`` — the same plan the run executes — the
planned sparsity per round and per epoch, the LR of every epoch, the search cost and the total
epochs, with an estimate of the run time (measured seconds per epoch of finished jobs with the
same model, dataset and batch size; a rough FLOP-based guess otherwise).
"""

from __future__ import annotations

import streamlit as st

from pruning_core.config import to_toml
from pruning_core.errors import CorruptRecord

from . import data, figures, launcher, state
from .text import plain
from .widgets import FormResult

MAX_ESTIMATE_JOBS = 10


def measured_seconds_per_epoch(model: str, dataset: str, batch_size: int) -> tuple[float | None, int]:
    """(median seconds per epoch, number of jobs it comes from) over recent finished jobs (a job
    whose events cannot be read is left out)."""
    matching = [j for j in state.jobs() if j["status"] == "finished" and data.readable(j)
                and (j["config"]["model"]["name"], j["config"]["dataset"]["name"],
                     j["config"]["training"]["batch_size"]) == (model, dataset, batch_size)][:MAX_ESTIMATE_JOBS]
    pairs = []
    for j in matching:
        try:
            pairs.append((j, state.frames_of(j["id"])[1]))
        except CorruptRecord:
            continue
    return data.seconds_per_epoch(pairs, model, dataset, batch_size), len(pairs)


def epoch_estimate(config, facts: dict) -> tuple[float, str, int]:
    """(seconds per epoch, what the estimate rests on, steps per epoch) of ``config``: measured on
    finished jobs with the same model, dataset and batch size, else a rough guess from the FLOPs
    in ``facts`` (``describe``)."""
    n_train = int(facts.get("dataset", {}).get("n_train") or 0)
    steps = -(-n_train // config.training.batch_size) or 1
    per_epoch, n_jobs = measured_seconds_per_epoch(config.model.name, config.dataset.name, config.training.batch_size)
    if per_epoch is None:
        per_epoch = data.fallback_seconds_per_epoch(facts.get("dense_flops"), n_train, steps)
        return per_epoch, "rough estimate from FLOPs (no finished run of this model, dataset and batch size yet)", steps
    return per_epoch, f"estimate from {n_jobs} finished job(s) with this model, dataset and batch size", steps


FACTS_POLL_SECONDS = 0.5


def await_facts(model: str, dataset: str) -> None:
    """Poll the pair's inspection; redraw the page once its facts are in (a live fragment)."""
    if state.describe_soon(model, dataset) is not None:
        st.rerun(scope="app")


def preview(form: FormResult) -> None:
    """Facts, plan charts and estimates of the form's config (or what is wrong with it)."""
    values = form.values
    facts = {}
    model, dataset = values.get("model.name"), values.get("dataset.name")
    if model and dataset:
        facts = state.describe_soon(model, dataset)
        if facts is None:                    # the first look at this pair: the plan now, the counts soon
            facts = {}
            st.caption(f"inspecting {plain(model)} on {plain(dataset)} for its parameter counts (the first "
                       "time only) …")
            st.fragment(await_facts, run_every=FACTS_POLL_SECONDS)(model, dataset)
        if facts.get("error"):
            form.show_error("model.name", facts["error"])
    config = form.config if not facts.get("error") else None
    if config is None:
        st.error("Fix the fields marked in red to see the plan and launch:\n\n"
                 + "\n".join(f"- `{e.field}`: {e.allowed}" for e in form.errors))
        return
    plan = config.plan()
    total = config.repeats * plan.total_epochs()
    per_epoch, basis, steps = epoch_estimate(config, facts)
    seconds = data.STARTUP_SECONDS + total * per_epoch
    planned = plan.sparsity()
    final = planned[-1]
    c1, c2 = st.columns(2)
    c1.metric("Parameters", f"{facts['n_params']:,}" if facts.get("n_params") is not None else "…", help=f"prunable: {facts.get('n_prunable', 0):,} "
              f"in {len(facts.get('layers') or [])} layers (conv/linear weights; biases and BN never)")
    c2.metric("Final sparsity", "at run time" if final is None else f"{100 * final:.2f}%",
              help="decided by the threshold as the run goes" if final is None else
              f"{100 * (1 - final):.2f}% of the prunable weights remain"
              + (f"; p = {plan.rate:.4f} per round" if plan.rate is not None else ""))
    c1.metric("Search cost", f"{plan.search_cost()} ep.",
              help="epochs spent finding the mask beyond the dense training (per repeat)")
    c2.metric("Total epochs", f"{total}", help="every epoch of every repeat")
    c1.metric("Run time (est.)", data.format_duration(seconds), help=basis)
    c2.metric("Steps / epoch", f"{steps}" if facts else "…")
    st.caption(f"Plan: {plan.headline}. Run time: {basis}; ≈ {per_epoch:.2f} s per epoch + "
               f"{data.STARTUP_SECONDS:.0f} s start-up.")
    trajectory = [r for r in plan.rounds if r.search]
    x_title = "epoch e (each epoch is a round)" if plan.epoch_rounds else "round r"
    fig = figures.curve_figure({"planned": ([r.index for r in trajectory], [r.sparsity for r in trajectory])},
                               "Planned sparsity after each round", x_title, markers=len(trajectory) <= 60)
    st.plotly_chart(fig, key="plan_rounds")
    epochs = plan.epochs(config.training, steps)
    st.plotly_chart(figures.sparsity_schedule(epochs, title="Planned sparsity per epoch (all rounds end to end)"),
                    key="plan_epochs")
    st.plotly_chart(figures.lr_schedule({"η": figures.lr_curve(epochs)}, title="Learning rate per epoch"),
                    key="plan_lr")
    if any(r.lr.scaled for r in plan.rounds):
        st.caption("ALLR's learning rate is drawn at d = 1, its largest value: each round multiplies it by the "
                   "d it measures when it prunes.")
    with st.expander("Config (TOML)"):
        st.code(to_toml(config), language="toml")
    if facts.get("layers"):
        with st.expander("Prunable layers"):
            st.dataframe([{"layer": x["name"], "shape": "×".join(map(str, x["shape"])), "weights": x["numel"],
                           "FLOPs": x["flops"]} for x in facts["layers"]], hide_index=True)


def launch_box(form: FormResult) -> None:
    """Name, TensorBoard logs or not, Launch; on success, go to the Monitor page of the new job."""
    name = st.text_input("Job name (optional)", key="job_name", placeholder="e.g. lenet-wr-k5")
    board = st.checkbox("Write TensorBoard logs", key="job_tensorboard",
                        help="into the job's run folder (cache/runs/<job>/tensorboard/): view them with "
                             "`tensorboard --logdir` beside your other runs")
    ok = form.config is not None and not any(e.field == "model.name" for e in form.errors)
    if st.button("Launch", type="primary", disabled=not ok, key="launch"):
        try:
            job_id = launcher.submit(form.config, state.cache_dir(), name=name or None, tensorboard=board)
        except ValueError as exc:               # e.g. a dataset.data_dir outside the allowed folders
            st.error(plain(exc))
            return
        st.switch_page("pages/2_Monitor.py", query_params={"job": job_id})
