"""The Compare page: overlay several jobs, tabulate accuracy / sparsity / search cost with the
speed-up relative to a baseline, and measure how different their masks are (Jaccard per layer)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pruning_core.analysis.maskmath import jaccard_per_layer
from pruning_core.errors import CorruptRecord

from . import data, errors, figures, state
from .text import plain

KEY = "compare_jobs"


def _labels(jobs: list[dict]) -> dict[str, str]:
    """A short unique label per job: its name, else its id."""
    names = [j.get("name") or j["id"] for j in jobs]
    return {j["id"]: (n if names.count(n) == 1 else j["id"]) for j, n in zip(jobs, names)}


def _select_seeds(jobs: list[dict], anchor: str) -> None:
    """Select the anchor and every job that differs from it only in its seeds."""
    key = data.experiment_key(next(j for j in jobs if j["id"] == anchor)["config"])
    st.session_state[KEY] = [j["id"] for j in jobs if j["id"] == anchor
                             or (key is not None and data.experiment_key(j["config"]) == key)]


def _label(record: dict) -> str:
    """'<name> · <method> · <status> (<end of id>)' for the selectors; '<id> · unreadable'."""
    if not data.readable(record):
        return data.job_label(record)
    j = record
    return (f"{j.get('name') or j['id']} · {data.method_label(j['config'])} · {j['status']}"
            + (f" ({j['id'][-17:]})" if j.get("name") and j["name"] != j["id"] else ""))


def _has_events(job_id: str) -> bool:
    """Whether the job has events (False when they cannot be counted)."""
    try:
        return state.store().event_count(job_id) > 0
    except CorruptRecord:
        return False


def pick(jobs: list[dict]) -> list[str]:
    """Multiselect of jobs (URL ``?jobs=a,b``), plus "all seeds of one experiment"."""
    ids = [j["id"] for j in jobs]
    labels = {j["id"]: _label(j) for j in jobs}
    if KEY not in st.session_state:
        wanted = [x for x in (st.query_params.get("jobs") or "").split(",") if x in ids]
        done = [j["id"] for j in jobs if j["status"] == "finished"]
        partial = [j["id"] for j in jobs if j["status"] in ("cancelled", "interrupted", "running")
                   and _has_events(j["id"])]
        st.session_state[KEY] = wanted or (done + partial)[:3]
    st.session_state[KEY] = [x for x in st.session_state[KEY] if x in ids]
    left, right = st.columns([3, 1])
    with right:
        anchor = st.selectbox("Experiment", ids, format_func=labels.get, key="seeds_anchor",
                              help="Select every job that differs from this one only in its seeds.")
        st.button("Select all its seeds", on_click=_select_seeds, args=(jobs, anchor), key="seeds_button")
    with left:
        chosen = st.multiselect("Jobs", ids, format_func=labels.get, key=KEY)
    st.query_params["jobs"] = ",".join(chosen)
    return chosen


def readable_rounds(by_id: dict, chosen: list[str]) -> dict[str, pd.DataFrame]:
    """{job: rounds table} of the chosen jobs whose record and events can be read; a warning
    names each one that is skipped, with the reason (plain text)."""
    rounds, skipped = {}, []
    for i in chosen:
        if not data.readable(by_id[i]):
            skipped.append(errors.problem(i, by_id[i].get("error") or "its record cannot be read"))
            continue
        try:
            rounds[i] = state.frames_of(i)[0]
        except CorruptRecord as exc:
            skipped.append(errors.problem(i, exc))
    if skipped:
        st.warning(plain(f"Left out: {len(skipped)} selected job(s) cannot be read; the others are compared.")
                   + "".join(f"\n- {plain(reason)}" for reason in skipped))
    return rounds


def view(jobs: list[dict]) -> None:
    """The chosen jobs overlaid, tabulated against a baseline, and their masks compared."""
    chosen = pick(jobs)
    if not chosen:
        st.info("Select one or more jobs.")
        return
    by_id = {j["id"]: j for j in jobs}
    rounds = readable_rounds(by_id, chosen)
    chosen = [i for i in chosen if i in rounds]
    if not chosen:
        return
    labels = _labels([by_id[i] for i in chosen])
    with_rounds = [i for i in chosen if len(rounds[i])]
    if not with_rounds:
        st.info("None of the selected jobs has finished a round yet.")
        return
    st.plotly_chart(figures.accuracy_vs_remaining({labels[i]: rounds[i] for i in with_rounds},
                                                  title="Test accuracy vs weights remaining"), key="compare_acc")
    baseline = st.selectbox("Baseline for the speed-up", chosen, format_func=labels.get, key="baseline",
                            help="speed-up = the baseline's search cost / this job's search cost "
                                 "(retraining epochs, dense training excluded)")
    table = data.compare_table({labels[i]: (by_id[i], rounds[i]) for i in chosen}, labels[baseline])
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "job": st.column_config.TextColumn(width="medium"),
        "sparsity %": st.column_config.NumberColumn(format="%.2f", help="final global sparsity"),
        "dense acc %": st.column_config.NumberColumn(format="%.2f"),
        "final acc %": st.column_config.NumberColumn(format="%.2f"),
        "cost (epochs)": st.column_config.NumberColumn(format="%d", help="search cost: retraining epochs"),
        "speed-up": st.column_config.NumberColumn(format="%.2f×", help="baseline cost / this job's cost")})
    st.caption("Accuracy: median over seeds at the last finished round. Cost: the search cost, retraining epochs "
               "of all rounds (per seed). Speed-up: the baseline's cost / this job's cost.")
    jaccard(by_id, chosen, labels, baseline)


def jaccard(by_id: dict, chosen: list[str], labels: dict, baseline: str) -> None:
    """Per-layer Jaccard distance of every (job, repeat) mask to the baseline's repeat 0, at one round."""
    st.subheader("Mask similarity")
    sources = {}
    for i in chosen:
        run_dir = state.store().run_dir(i)
        for repeat in range(by_id[i]["config"]["repeats"]):
            files = run_dir.repeat(repeat).mask_files()
            if files:
                sources[(i, repeat)] = files
    if (baseline, 0) not in sources or len(sources) < 2:
        st.info("Needs masks from the baseline and at least one other job or seed.")
        return
    options = sorted(set(sources[(baseline, 0)]) - {0})
    others = [set(f) for k, f in sources.items() if k != (baseline, 0)]
    shared = [r for r in options if any(r in o for o in others)]
    if not shared:
        st.info("The baseline and the other runs have no pruned round in common yet.")
        return
    round_index = st.select_slider("Round", options, value=shared[-1], key="jaccard_round") \
        if len(options) > 1 else options[0]
    reference = state.masks(sources[(baseline, 0)][round_index])
    columns = {}
    for (i, repeat), files in sources.items():
        if (i, repeat) == (baseline, 0) or round_index not in files:
            continue
        distances = jaccard_per_layer(reference, state.masks(files[round_index]))
        if distances:
            columns[f"{labels[i]} · seed {by_id[i]['config']['seed'] + repeat}"] = distances
    if not columns:
        st.info("No layer has the same shape in the baseline and the other runs (different models?).")
        return
    table = pd.DataFrame(columns).rename(index={"__model__": "whole model"})
    st.plotly_chart(figures.jaccard_bars(table, title=f"Jaccard distance to {labels[baseline]} · seed "
                                         f"{by_id[baseline]['config']['seed']} after round {round_index}"),
                    key="jaccard_bars")
    st.dataframe(table.style.format("{:.3f}"))
    st.caption("Jaccard distance over kept weights: d = 1 − |A ∩ B| / |A ∪ B| (0: the same weights survive; "
               "1: no weight survives in both). Same round = same planned sparsity when the rates match; runs that "
               "have not reached the round are left out.")
