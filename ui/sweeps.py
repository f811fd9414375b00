"""The Sweeps page: one sweep (``?sweep=<id>``) live — accuracy against remaining weights per axis
value, a heatmap over any two axes, the results per combination, the search cost, and the status
of every job with Cancel / Resume for one job or the whole sweep.

The live part runs in ``st.fragment(run_every=...)`` while any job of the sweep is queued or
running. Each tick reads the sweep's job records and only the events appended since the previous
tick (:func:`ui.state.feed`); the results table (``pruning_core.sweeps.table.sweep_rounds``) and
the figures are rebuilt only when an event count or a status changed (:func:`ui.state.memo`).
When the sweep stops, the fragment reruns the page once, which draws it without a timer.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from pruning_core.errors import CorruptRecord
from pruning_core.jobs.store import unreadable_record
from pruning_core.sweeps.table import group_axes, sweep_rounds

from . import data, errors, launcher, state
from . import sweep_data as sd
from . import sweep_figures as sf
from .text import plain

LIVE_SECONDS = 2.0
COMBINATION = "__combination__"
NO_AXIS = "__none__"
FINAL, AT_SPARSITY = "final accuracy", "accuracy at a sparsity"


# ---- choosing a sweep and reading it -----------------------------------------------------------

def pick_sweep(sweeps: list[dict]) -> str | None:
    """A sweep selector; the URL's ``?sweep=`` chooses the initial sweep and follows the selection
    (an unknown id is named in a warning as plain text)."""
    labels = {s["id"]: f"{s.get('name') or s['id']} · {sd.axes_text(s)} · {len(s['jobs'])} jobs" for s in sweeps}
    return state.pick_from_url("sweep", "Sweep", [s["id"] for s in sweeps], labels)


def records_of(sweep: dict) -> dict[str, dict]:
    """{job id: record} of the sweep's jobs (an unreadable one as an ``unreadable`` record; a job
    missing from the store is left out)."""
    store = state.store()
    out = {}
    for job_id in sweep["jobs"]:
        try:
            out[job_id] = store.get_job(job_id)
        except KeyError:
            continue
        except CorruptRecord as exc:
            out[job_id] = unreadable_record(job_id, str(exc))
    return out


class FeedStore:
    """What ``sweep_rounds`` reads, served from this tick: the records already read and each job's
    events from its incremental feed (only new events come from the store)."""

    def __init__(self, records: dict[str, dict]):
        self.records = records

    def get_job(self, job_id: str) -> dict:
        record = self.records.get(job_id)
        if record is None:
            raise KeyError(job_id)
        if not data.readable(record):
            raise CorruptRecord(record.get("error") or "unreadable")
        return record

    def events(self, job_id: str) -> list[dict]:
        return state.feed(job_id)


def read_rounds(sweep: dict, records: dict[str, dict]) -> tuple[pd.DataFrame, tuple, list[str]]:
    """(the sweep's rounds with text axis values, the change key of this tick, the problems of jobs
    whose events cannot be read); the table is rebuilt only when the change key changes."""
    counts, problems = [], []
    for job_id in sweep["jobs"]:
        record = records.get(job_id)
        if record is None or not data.readable(record):
            counts.append((job_id, -1, record["status"] if record else "missing"))
            continue
        try:
            counts.append((job_id, len(state.feed(job_id)), record["status"]))
        except CorruptRecord as exc:
            counts.append((job_id, -1, "unreadable"))
            problems.append(errors.problem(job_id, exc))
    deps = tuple(counts)
    rounds = state.memo(f"sweep_rounds:{sweep['id']}", deps,
                        lambda: sd.labelled(sweep_rounds(FeedStore(records), sweep), sweep))
    return rounds, deps, problems


# ---- controls --------------------------------------------------------------------------------

def sweep_controls(sweep: dict, grid: pd.DataFrame) -> None:
    """Cancel every unfinished job / Resume every stopped job of the sweep."""
    active = grid["status"].isin(sd.ACTIVE).any()
    stopped = grid["status"].isin(sd.STOPPED).sum()
    if sweep.get("executor") == "ray" and not launcher.driver_running(sweep["id"], state.cache_dir()):
        stopped += (grid["status"] == "queued").sum()        # queued for a Ray driver that no longer runs
    left, right, _ = st.columns([1, 1, 3])
    if left.button("Cancel sweep", key="sweep_cancel", disabled=not active,
                   help="Cancels every queued or running job of the sweep; finished rounds are kept."):
        launcher.cancel_sweep(sweep["id"], state.cache_dir())
        st.rerun()
    if right.button(f"Resume sweep ({stopped})" if stopped else "Resume sweep", key="sweep_resume",
                    type="primary" if stopped else "secondary", disabled=not stopped,
                    help="Requeues every interrupted, failed or cancelled job; each continues after its last "
                         "finished round (a Ray sweep's driver is started again)."):
        launcher.resume_sweep(sweep["id"], state.cache_dir())
        st.rerun()


def job_controls(sweep: dict, grid: pd.DataFrame) -> None:
    """One job of the sweep: Cancel or Resume it, or open it in Monitor."""
    fields = sd.axis_fields(sweep)
    labels = {row["job"]: f"{sd.combo_label({f: row[f] for f in fields})} · {row['status']}"
              for row in grid.to_dict("records")}
    cols = st.columns([3, 1, 1, 2], vertical_alignment="bottom")
    job_id = cols[0].selectbox("Job", list(labels), format_func=labels.get, key="sweep_job")
    status = grid.loc[grid["job"] == job_id, "status"].iloc[0] if job_id else None
    if cols[1].button("Cancel job", key="job_cancel", disabled=status not in sd.ACTIVE):
        launcher.cancel_sweep(sweep["id"], state.cache_dir(), job_id=job_id)
        st.rerun()
    if cols[2].button("Resume job", key="job_resume", disabled=status not in sd.STOPPED):
        launcher.resume(job_id, state.cache_dir())
        st.rerun()
    if job_id:
        cols[3].page_link("pages/2_Monitor.py", label="Open in Monitor", icon=":material/monitoring:",
                          query_params={"job": job_id})


# ---- the parts of the live view ------------------------------------------------------------------

def header(sweep: dict, grid: pd.DataFrame) -> None:
    """Jobs by state, overall progress, and what the sweep varies."""
    counts = sd.status_counts(grid["status"])
    n = len(grid)
    cols = st.columns(4)
    cols[0].metric("Jobs", f"{n}")
    cols[1].metric("Finished", f"{counts.get('finished', 0)} / {n}")
    cols[2].metric("Running", f"{counts.get('running', 0)}")
    cols[3].metric("Queued", f"{counts.get('queued', 0)}")
    progress = float(grid["progress"].mean()) if n else 0.0
    st.progress(progress, text=f"{100 * progress:.0f}% of the sweep's jobs done (by epochs)")
    others = {k: v for k, v in counts.items() if k not in ("finished", "running", "queued")}
    st.caption(plain(f"{sd.axes_text(sweep)} · {'zipped' if sweep.get('zipped') else 'every combination'} · "
                     f"sweep {sweep['id']}" + sd.executor_text(sweep) + "".join(f" · {v} {k}" for k, v in others.items())))


def accuracy_part(rounds: pd.DataFrame, sweep: dict, deps: tuple) -> None:
    """Accuracy vs remaining weights, one line per value of a chosen axis or per combination."""
    fields = sd.axis_fields(sweep)
    options = [COMBINATION, *fields]
    names = {COMBINATION: "each combination (seeds pooled)", **{f: f"each value of {f}" for f in fields}}
    by = st.selectbox("Lines for", options, format_func=names.get, key="sweep_lines",
                      help="Each line is the median per round over the seeds, repeats and other axes that share "
                           "the value; the band spans their min–max.")
    keys = group_axes(sweep) if by == COMBINATION else [by]
    fig = state.memo("sweep_acc", (deps, by), lambda: sf.sweep_accuracy(rounds, keys, sd.value_order(sweep)))
    st.plotly_chart(fig, key="sweep_acc")


def heatmap_part(rounds: pd.DataFrame, sweep: dict, deps: tuple) -> None:
    """Final accuracy (or accuracy at a chosen sparsity, nearest round) over two chosen axes."""
    fields = sd.axis_fields(sweep)
    grouping = group_axes(sweep) or fields
    cols = st.columns(3)
    rows_axis = cols[0].selectbox("Heatmap rows", fields, index=fields.index(grouping[0]), key="heat_rows")
    column_options = [NO_AXIS, *[f for f in fields if f != rows_axis]]
    default = next((f for f in column_options[1:] if f in grouping), column_options[1] if len(column_options) > 1
                   else NO_AXIS)
    if st.session_state.get("heat_cols") not in column_options:
        st.session_state["heat_cols"] = default
    columns_axis = cols[1].selectbox("Heatmap columns", column_options, key="heat_cols",
                                     format_func=lambda f: "— (one column)" if f == NO_AXIS else f)
    metric = cols[2].radio("Value", [FINAL, AT_SPARSITY], key="heat_metric", horizontal=True,
                           help="Final: the last round of each finished job. At a sparsity: each run's round whose "
                                "sparsity is nearest the one chosen.")
    if metric == AT_SPARSITY:
        if "heat_sparsity" not in st.session_state:
            st.session_state["heat_sparsity"] = _typical_sparsity(rounds)
        target = st.slider("Sparsity (%)", 0.0, 99.9, step=0.1, key="heat_sparsity")
        points = sd.nearest_rows(rounds, target / 100)
        title = f"Test accuracy (%) nearest {target:.1f}% sparsity"
    else:
        points = sd.last_rows(rounds)
        title = "Final test accuracy (%) of finished jobs"
    columns_axis = None if columns_axis == NO_AXIS else columns_axis
    median, count = sd.heatmap_table(points, sweep, rows_axis, columns_axis)
    fig = state.memo("sweep_heat", (deps, rows_axis, columns_axis, metric, st.session_state.get("heat_sparsity")),
                     lambda: sf.accuracy_heatmap(median, count, title=title))
    st.plotly_chart(fig, key="sweep_heatmap")
    st.caption("Each cell: the median over the seeds, repeats and other axes that share its two values "
               "(hover: how many runs). Empty until a run of the cell has a value.")


def _typical_sparsity(rounds: pd.DataFrame) -> float:
    """A starting point for the sparsity slider: the median of the last rounds' sparsities (%)."""
    if not len(rounds):
        return 50.0
    last = rounds.sort_values("round").groupby(["job", "repeat"]).tail(1)["sparsity"]
    return round(float(min(99.9, 100 * last.median())), 1)


def results_part(rounds: pd.DataFrame, sweep: dict, grid: pd.DataFrame, deps: tuple) -> None:
    """The results per combination (axes as the first columns) and their search cost."""
    keys = group_axes(sweep)
    table = state.memo("sweep_table", deps, lambda: sd.combinations(rounds, sweep, grid))
    st.dataframe(table, hide_index=True, key="sweep_results", column_config={
        "jobs": st.column_config.TextColumn(help="jobs finished / jobs of the combination"),
        "round": st.column_config.NumberColumn(format="%d", help="the last round so far"),
        "remaining %": st.column_config.NumberColumn(format="%.2f", help="weights remaining (median)"),
        "accuracy %": st.column_config.NumberColumn(format="%.2f", help="test accuracy, median over seeds"),
        "min %": st.column_config.NumberColumn(format="%.2f"), "max %": st.column_config.NumberColumn(format="%.2f"),
        "runs": st.column_config.NumberColumn(format="%d", help="seeds × repeats counted at that round"),
        "search cost": st.column_config.NumberColumn(format="%d", help="retraining epochs per run (dense excluded)")})
    st.caption("Per combination of the axes other than the seed, at its last round so far (median, min and max over "
               "seeds and repeats).")
    if len(table) and table["search cost"].notna().any():
        left, right = st.columns(2)
        left.plotly_chart(state.memo("sweep_cost", deps, lambda: sf.search_cost_bars(table, keys)), key="sweep_cost")
        right.plotly_chart(state.memo("sweep_cost_acc", deps, lambda: sf.accuracy_vs_cost(table, keys)),
                           key="sweep_cost_acc")
    st.download_button("sweep.csv", lambda: rounds.drop(columns=["layer_sparsity", "weight_stability"],
                                                        errors="ignore").to_csv(index=False),
                       file_name=f"{sweep['id']}.csv", mime="text/csv", on_click="ignore", key="sweep_csv")


def jobs_part(sweep: dict, grid: pd.DataFrame) -> None:
    """Every job: axis values, status and progress, a link to Monitor; actions on one job."""
    shown = grid.assign(monitor=[f"Monitor?job={j}" for j in grid["job"]])
    st.dataframe(shown, hide_index=True, key="sweep_jobs", column_config={
        "progress": st.column_config.ProgressColumn(min_value=0, max_value=1, format="percent", width="small"),
        "monitor": st.column_config.LinkColumn("monitor", display_text="open ↗", help="the job in Monitor")})
    job_controls(sweep, grid)


# ---- the page --------------------------------------------------------------------------------

@errors.guarded
def live(sweep_id: str) -> None:
    """The live part of the page; reruns every few seconds while a job of the sweep is active."""
    sweep = state.store().get_sweep(sweep_id)
    records = records_of(sweep)
    grid = sd.job_grid(sweep, records)
    active = bool(grid["status"].isin(sd.ACTIVE).any())
    was_active = st.session_state.setdefault("sweep_active", {}).get(sweep_id)
    st.session_state["sweep_active"][sweep_id] = active
    if was_active and not active:
        st.rerun()                  # the sweep stopped: redraw the page once, without the timer
    rounds, deps, problems = read_rounds(sweep, records)
    header(sweep, grid)
    sweep_controls(sweep, grid)
    if problems:
        st.warning(plain(f"{len(problems)} job(s) of the sweep cannot be read; the others are shown:")
                   + "".join(f"\n- {plain(p)}" for p in problems))
    if len(rounds):
        left, right = st.columns(2)
        with left:
            accuracy_part(rounds, sweep, deps)
        with right:
            heatmap_part(rounds, sweep, deps)
        results_part(rounds, sweep, grid, deps)
    else:
        st.info("The charts appear when the first job finishes its dense round.")
    st.subheader("Jobs")
    jobs_part(sweep, grid)
    st.caption(f"updated {time.strftime('%H:%M:%S')}" + (f" · refreshing every {LIVE_SECONDS:g} s" if active else ""))


def show(sweep_id: str) -> None:
    """The whole view of one sweep (its queued jobs get a worker if none runs)."""
    sweep = state.store().get_sweep(sweep_id)
    records = records_of(sweep)
    statuses = [r["status"] for r in records.values()]
    if any(launcher.waits_for_worker(r) for r in records.values()):
        launcher.ensure_worker(state.cache_dir())      # e.g. the app restarted after its worker left
    active = any(s in sd.ACTIVE for s in statuses)
    st.fragment(live, run_every=LIVE_SECONDS if active else None)(sweep_id)
