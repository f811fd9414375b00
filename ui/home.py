"""The entry page: what Prunelab is, a quick-start launch, the worker and the list of jobs."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from pruning_core.jobs.worker import worker_running
from pruning_core.registry import ALGORITHMS, DATASETS, LR_POLICIES, MODELS, SCORES, TREATMENTS, UNITS

from . import data, errors, launcher, manage, state
from . import sweep_data
from .monitor import ACTIVE
from .text import plain

INTRO = """
**Prunelab** runs neural-network pruning experiments — the lottery-ticket procedure of train →
prune → rewind or keep the weights → retrain, and its relatives — as background jobs, and draws
them while they run: accuracy against the weights that remain, training curves, the masks
themselves. Jobs run in a separate worker process (several at once: one per GPU, or a share of the
CPU cores each); they survive a browser refresh and an app restart. A *sweep* runs a grid of jobs —
any fields of the Experiment form varied — and draws them as one.
"""


def vocabulary() -> str:
    """What can be chosen, read from the registries (plug-ins included, so it never drifts)."""
    kinds = [(ALGORITHMS, "Algorithms"), (TREATMENTS, "after pruning"), (LR_POLICIES, "LR policies"),
             (SCORES, "Scores"), (UNITS, "units"), (MODELS, "Models"), (DATASETS, "datasets")]
    return " · ".join(f"{label}: {', '.join(registry.names())}" for registry, label in kinds)


def quick_start() -> None:
    config = state.quickstart_config()
    st.subheader("Quick start")
    st.markdown(
        f"LeNet-300-100 on scikit-learn's 8×8 **digits** (always available offline): the original lottery "
        f"ticket, IMP rewinding to the initialisation (k = {config.algorithm.rewind_epoch}), "
        f"{100 * config.algorithm.rate:.0f}% per round for "
        f"{config.algorithm.rounds} rounds (down to {100 * (1 - config.plan().sparsity()[-1]):.1f}% of the "
        f"weights), {config.repeats} seeds. About a minute on a 2-core CPU; the first point appears within "
        f"seconds.")
    if st.button("Launch", type="primary", key="quick_launch"):
        with errors.reported():                    # e.g. a full disk: the message, and the page goes on
            job_id = launcher.submit(config, state.cache_dir(), name="quick start")
            st.switch_page("pages/2_Monitor.py", query_params={"job": job_id})


def experiment_text(record: dict) -> str:
    """'<name>: <model>/<dataset> · <method> · <n> seeds', or the reason an unreadable record
    cannot be read."""
    if not data.readable(record):
        return record.get("error") or "the record cannot be read"
    c = record["config"]
    name = record.get("name") if record.get("name") not in (None, record["id"]) else ""
    return (f"{name + ': ' if name else ''}{c['model']['name']}/{c['dataset']['name']} · "
            f"{data.method_label(c)}" + (f" · {c['repeats']} seeds" if c["repeats"] > 1 else ""))


def jobs_table(jobs: list[dict]) -> pd.DataFrame:
    """One row per job: id, status, what it runs (or why it is unreadable), progress and age."""
    rows = []
    now = time.time()
    for j in jobs:
        p = j.get("progress") or {}
        total = p.get("epochs_total")
        created = j.get("created")
        rows.append({"job": j["id"], "status": j["status"], "experiment": experiment_text(j),
                     "tags": " ".join(f"#{t}" for t in j.get("tags") or []),
                     "progress": (p.get("epochs_done") or 0) / total if total else 0.0,
                     "age": data.format_duration(now - created if created is not None else None)})
    return pd.DataFrame(rows)


def unreadable_notice(jobs: list[dict]) -> None:
    """A warning naming every job whose record cannot be read, with the reason (plain text)."""
    broken = [j for j in jobs if not data.readable(j)]
    if broken:
        st.warning(plain(f"{len(broken)} job record(s) cannot be read; the other jobs are not affected:")
                   + "".join(f"\n- {plain(errors.problem(j['id'], j.get('error') or 'unreadable'))}"
                             for j in broken))


def sweep_list(jobs: list[dict]) -> bool:
    """Every sweep as one line (name, axes, jobs finished / total, progress, the other states) with
    a link to its view; selecting a row opens it. Returns whether there was any sweep."""
    sweeps = state.store().list_sweeps()
    if not sweeps:
        return False
    records = {j["id"]: j for j in jobs}
    table = pd.DataFrame([sweep_data.sweep_row(s, records) for s in sweeps])
    st.markdown("**Sweeps**")
    event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="single-row", key="sweep_table",
                         column_config={
                             "sweep": None,
                             "finished": st.column_config.TextColumn(help="jobs finished / jobs of the sweep"),
                             "progress": st.column_config.ProgressColumn(min_value=0, max_value=1, format="percent",
                                                                         width="small"),
                             "states": st.column_config.TextColumn(help="the sweep's other jobs by state"),
                             "open": st.column_config.LinkColumn("view", display_text="open ↗",
                                                                 help="the sweep's live view")})
    rows = event.selection.rows if event is not None else []
    if rows:
        st.switch_page("pages/5_Sweeps.py", query_params={"sweep": table.iloc[rows[0]]["sweep"]})
    st.caption("Select a row to open the sweep; its jobs are also in the list below.")
    return True


@errors.guarded
def job_list() -> None:
    """Every job with its state; refreshes itself while any job is queued or running."""
    jobs = state.jobs()
    active = any(j["status"] in ACTIVE for j in jobs)
    if any(launcher.waits_for_worker(j) for j in jobs):
        launcher.ensure_worker(state.cache_dir())
    pid = worker_running(state.cache_dir())
    counts = {s: sum(j["status"] == s for j in jobs) for s in ("running", "queued", "finished", "interrupted",
                                                                  "failed", "cancelled", "unreadable")}
    parts = [f"Worker: {'pid ' + str(pid) if pid else 'idle (starts when a job is queued)'}"]
    parts += [f"{v} {k}" for k, v in counts.items() if v] + [f"store {state.cache_dir()}", manage.store_size_text()]
    st.caption(plain(" · ".join(parts)))
    if not jobs:
        st.info("No jobs yet.")
        return
    if sweep_list(jobs):
        st.markdown("**All jobs**")
    everything, jobs = jobs, manage.filtered(jobs)
    if not jobs:
        st.info("No job matches the filter.")
        return
    table = jobs_table(jobs)
    event = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="single-row", key="job_table",
                         column_config={"progress": st.column_config.ProgressColumn(min_value=0, max_value=1,
                                                                                    format="percent", width="small"),
                                        "age": st.column_config.TextColumn(help="time since the job was created",
                                                                           width="small")})
    rows = event.selection.rows if event is not None else []
    if rows:
        st.switch_page("pages/2_Monitor.py", query_params={"job": table.iloc[rows[0]]["job"]})
    st.caption("Select a row to open the job in Monitor.")
    manage.delete_box(jobs)
    unreadable_notice(everything)
    interrupted = [j for j in everything if j["status"] == "interrupted"]
    if interrupted:
        st.warning(f"{len(interrupted)} job(s) lost their worker. Resume continues after the last finished round.")
        if st.button("Resume all interrupted jobs", key="resume_all"):
            for j in interrupted:
                launcher.resume(j["id"], state.cache_dir())
            st.rerun()
    if st.session_state.get("home_active") and not active:
        st.session_state["home_active"] = False
        st.rerun()
    st.session_state["home_active"] = active


def view() -> None:
    st.title("✂️ Prunelab")
    st.markdown(INTRO)
    st.caption(vocabulary())
    left, right = st.columns([3, 2], gap="large")
    with left:
        quick_start()
    with right:
        st.subheader("Pages")
        links = [("pages/1_Experiment.py", "Experiment: choose everything, see the plan", "science"),
                 ("pages/2_Monitor.py", "Monitor: watch one job live", "monitoring"),
                 ("pages/3_Compare.py", "Compare: several jobs or seeds", "compare_arrows"),
                 ("pages/5_Sweeps.py", "Sweeps: grids of jobs, live", "grid_view"),
                 ("pages/4_Schedules.py", "Schedules: sparsity and LR playground", "show_chart")]
        for path, text, icon in links:
            st.page_link(path, label=text, icon=f":material/{icon}:")
    st.subheader("Jobs")
    active = any(j["status"] in ACTIVE for j in state.jobs())
    st.fragment(job_list, run_every=2.0 if active else None)()
