"""The Monitor page's parts: pick a job, watch it live, look at its masks, cancel/resume, download.

The live parts run in ``st.fragment(run_every=...)`` while the job is queued or running, and read
only the events appended since the previous tick (:func:`ui.state.feed`). When the job stops, the
fragment triggers one full rerun, which draws the page again without a timer.
"""

from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from pruning_core.analysis.compression import compression_table
from pruning_core.config import Config
from pruning_core.config.io import to_toml
from pruning_core.errors import CorruptRecord
from pruning_core.events import EPOCH_COLUMNS, ROUND_COLUMNS, events_to_frames
from pruning_core.summary import split_variants

from . import config_loader, data, errors, figures, launcher, manage, state
from .text import plain

LIVE_SECONDS = 1.0
MASK_SECONDS = 4.0
ACTIVE = ("queued", "running")


def pick_job(jobs: list[dict]) -> str | None:
    """A job selector; the URL's ``?job=`` chooses the initial job and follows the selection (the
    parameter is shown as plain text: a crafted link draws no markup)."""
    return state.pick_from_url("job", "Job", [j["id"] for j in jobs],
                               {j["id"]: data.job_label(j, status=False) for j in jobs})


def controls(record: dict) -> None:
    """Cancel (queued/running), Resume (interrupted/failed/cancelled) and Edit as new."""
    status = record["status"]
    left, right, edit, _ = st.columns([1, 1, 1, 3])
    if status in ACTIVE:
        if left.button("Cancel", key="cancel", type="secondary", disabled=record.get("cancel_requested", False),
                       help="Stops between two training steps; finished rounds are kept."):
            launcher.cancel(record["id"], state.cache_dir())
            st.rerun()
        if record.get("cancel_requested") and status == "running":
            right.caption("cancel requested …")
    if status in ("interrupted", "failed", "cancelled"):
        if left.button("Resume", key="resume", type="primary",
                       help="Requeue the job; it continues after its last finished round."):
            launcher.resume(record["id"], state.cache_dir())
            st.rerun()
    if data.readable(record) and edit.button("Edit as new", key="edit_as_new", icon=":material/edit:",
                                             help="Open this job's config in the Experiment form, to change "
                                                  "it and launch it as a new job"):
        config_loader.send_job(record)
        st.switch_page("pages/1_Experiment.py")


def header(record: dict, events: list[dict]) -> None:
    """Status, device, progress with ETA, and the error with the tail of its traceback."""
    status = record["status"]
    c = record["config"]
    progress = record.get("progress") or {}
    done, total = progress.get("epochs_done") or 0, progress.get("epochs_total")
    if total is None:
        config = state.config_of(record)
        total = c["repeats"] * config.plan().total_epochs() if config is not None else None
    cols = st.columns(4)
    cols[0].metric("Status", status)
    cols[1].metric("Device", data.device_short(record.get("device")),
                   help=record.get("device") or "assigned when a worker claims the job")
    cols[2].metric("Epochs", f"{done} / {total}")
    eta = progress.get("eta_seconds") if status == "running" else (0 if status == "finished" else None)
    cols[3].metric("ETA", data.format_duration(eta) if status == "running" else ("—" if eta is None else "done"))
    st.progress(min(1.0, done / total) if total else 0.0,
                text=f"{100 * done / total:.0f}% of {total} epochs" if total else None)
    st.caption(plain(f"device: {record.get('device') or '—'} · model {c['model']['name']} on "
                     f"{c['dataset']['name']} · {data.method_label(c)} · seeds {c['seed']}…"
                     f"{c['seed'] + c['repeats'] - 1} · job {record['id']}"))
    if record.get("sweep"):
        st.page_link("pages/5_Sweeps.py", label="Part of a sweep: open the sweep", icon=":material/grid_view:",
                     query_params={"sweep": record["sweep"]})
    started = [e for e in events if e.get("type") == "run_started"]
    partners = started[-1].get("trained_with") if started else None
    if partners:
        st.caption(f"trained as one batched model with {len(partners)} other job(s) of its sweep "
                   f"(same training; own seeds, masks and results): {plain(', '.join(map(str, partners)))}")
    if status == "queued":
        ahead = [j for j in state.jobs() if j["status"] in ACTIVE and j["created"] < record["created"]]
        st.info(f"Queued: {len(ahead)} job(s) ahead of it. The worker runs as many jobs at once as it has slots "
                "(one per GPU, or a share of the CPU cores each).")
    if status == "interrupted":
        st.warning("The worker running this job stopped (no heartbeat). **Resume** continues after the last "
                   "finished round; finished rounds are kept.")
    if record.get("error"):
        st.error(f"**{plain(record['error'])}**")
        tail = "\n".join((record.get("traceback") or "").strip().splitlines()[-15:])
        if tail:
            st.code(tail, language="text")


def live_charts(record: dict, rounds: pd.DataFrame, epochs: pd.DataFrame, n_events: int) -> None:
    """Accuracy vs remaining weights, per-epoch curves, layer sparsity and the schedules (each
    figure is rebuilt only when new events arrived)."""
    config = state.config_of(record)
    job_id = record["id"]
    left, right = st.columns(2)
    with left:
        if len(rounds):
            fig = state.memo("acc", (job_id, len(rounds)), lambda: figures.accuracy_vs_remaining(
                {record.get("name") or job_id: rounds}))
            st.plotly_chart(fig, key="acc_vs_remaining", config={"displaylogo": False})
        else:
            st.info("Accuracy vs remaining weights appears after the first round.")
    with right:
        if len(epochs):
            available = sorted(int(r) for r in epochs["round"].unique())
            latest = int(epochs.iloc[-1]["round"])          # the round trained last (repeats run in turn)
            if st.session_state.get("epoch_round_follow", True) or st.session_state.get("epoch_round") not in available:
                st.session_state["epoch_round"] = latest
            if len(available) > 1:
                chosen = st.select_slider("Round of the training curves", available, key="epoch_round")
            else:
                chosen = latest
            st.session_state["epoch_round_follow"] = chosen == latest
            fig = state.memo("epochs", (job_id, n_events, chosen), lambda: figures.epoch_curves(epochs, chosen))
            st.plotly_chart(fig, key="epoch_curves")
        else:
            st.info("Per-epoch curves appear after the first epoch.")
    left, right = st.columns(2)
    with left:
        if len(rounds):
            last = rounds.iloc[-1]
            fig = state.memo("bars", (job_id, len(rounds)), lambda: figures.layer_sparsity_bars(
                last["layer_sparsity"], last["sparsity"],
                title=f"Sparsity per layer after round {int(last['round'])} (repeat {int(last['repeat'])})"))
            st.plotly_chart(fig, key="layer_bars")
    if config is None:
        st.caption("This job's method comes from a plug-in this app has not loaded: name its file in "
                   "$PRUNELAB_PLUGINS to see the planned schedules.")
        return
    plan = config.plan()
    plan_epochs = plan.epochs(config.training)
    current, measured = None, None
    if len(epochs):
        last_repeat = epochs[epochs["repeat"] == epochs["repeat"].max()].copy()
        last_repeat["global_epoch"] = plan.global_epochs(last_repeat["round"], last_repeat["epoch"])
        measured = last_repeat.dropna(subset=["global_epoch"])
        current = float(measured["global_epoch"].max()) if len(measured) else None
    with right:
        fig = state.memo("sparsity", (job_id, n_events), lambda: figures.sparsity_schedule(plan_epochs, current, measured))
        st.plotly_chart(fig, key="sparsity_schedule")

    def lr_figure():
        fig = figures.lr_schedule({"planned η": figures.lr_curve(plan_epochs)}, current,
                                  title="Learning rate over the run (planned; dots: measured)")
        if measured is not None and len(measured):
            fig.add_scatter(x=measured["global_epoch"], y=measured["lr"], mode="markers",
                            name="measured (last step)", marker=dict(color=figures.PALETTE[1], size=6))
        return fig

    st.plotly_chart(state.memo("lr", (job_id, n_events), lr_figure), key="lr_schedule")
    if any(r.lr.scaled for r in plan.rounds):
        st.caption("ALLR's planned LR is drawn at d = 1; the dots are the LR the run used (d measured when pruning).")


def mask_view(record: dict, rounds: pd.DataFrame) -> None:
    """Per-layer mask heatmaps of a chosen repeat and round (optionally with |w|)."""
    run_dir = state.store().run_dir(record["id"])
    repeats = sorted({int(r) for r in rounds["repeat"].unique()}) if len(rounds) else [0]
    cols = st.columns([1, 3, 2])
    if len(repeats) > 1:
        current = record["status"] in ACTIVE            # follow the repeat being trained while it runs
        repeat = cols[0].selectbox("Repeat", repeats, index=len(repeats) - 1 if current else 0, key="mask_repeat")
    else:
        repeat = repeats[0]
    files = run_dir.repeat(repeat).mask_files()
    if not files:
        st.info("Masks appear after the first finished round.")
        return
    available = sorted(files)
    if st.session_state.get("mask_round_follow", True) or st.session_state.get("mask_round") not in available:
        st.session_state["mask_round"] = available[-1]
    with cols[1]:
        if len(available) > 1:
            chosen = st.select_slider("Round", available, key="mask_round")
        else:
            chosen = available[0]
            st.caption(f"Round {available[0]}: more rounds appear as they finish.")
    st.session_state["mask_round_follow"] = chosen == available[-1]
    masks = state.masks(files[chosen])
    files_of_repeat = run_dir.repeat(repeat)
    weights_file = files_of_repeat.weights_file(files_of_repeat.round_weights(chosen))
    show_weights = cols[2].toggle("Show |weights|", key="mask_weights",
                                  disabled=weights_file is None or not weights_file.exists(),
                                  help="Weights are stored for round 0 and the last finished round only.")
    weights = {}
    if show_weights and weights_file is not None and weights_file.exists():
        with st.spinner("reading weights"):
            weights = state.weights(weights_file, list(masks))
    names = list(masks)
    grid = st.columns(min(3, len(names)))
    for i, name in enumerate(names):
        with grid[i % len(grid)]:
            fig = state.memo(f"mask_{name}", (str(files[chosen]), name in weights),
                             lambda: figures.mask_heatmap(masks[name], weights.get(name), name=name, height=320))
            st.plotly_chart(fig, key=f"mask_{name}")
    st.caption("Rows: output units (conv: output filters); columns: inputs (conv: input channels, each cell the "
               "fraction of its kernel kept). Light grey = pruned, dark blue = kept.")


def config_toml(record: dict) -> str:
    """The job's complete config as TOML, headed by where it came from."""
    return (f"# Prunelab job {record['id']} ({record.get('name') or record['id']})\n"
            + to_toml(Config.from_dict(record["config"])))


def downloads(record: dict) -> None:
    """Rounds CSV, epochs CSV, summary JSON and the masks (zip); built when clicked."""
    job_id = record["id"]

    def tables():
        events = state.store().events(job_id)
        return events, *events_to_frames(events)

    def summary_json():
        events, rounds, _ = tables()
        return json.dumps(data.summary(state.job(job_id) or record, events, rounds), indent=2, default=str)

    cols = st.columns(5)
    cols[4].download_button("config.toml", lambda: config_toml(record), file_name=f"{job_id}_config.toml",
                            mime="application/toml", on_click="ignore",
                            help="the job's complete config: run it again with `run --config`, or upload it on "
                                 "the Experiment page")
    cols[0].download_button("rounds.csv", lambda: tables()[1].reindex(columns=ROUND_COLUMNS).to_csv(index=False),
                            file_name=f"{job_id}_rounds.csv", mime="text/csv", on_click="ignore")
    cols[1].download_button("epochs.csv", lambda: tables()[2].reindex(columns=EPOCH_COLUMNS).to_csv(index=False),
                            file_name=f"{job_id}_epochs.csv", mime="text/csv", on_click="ignore")
    cols[2].download_button("summary.json", summary_json, file_name=f"{job_id}_summary.json",
                            mime="application/json", on_click="ignore")
    cols[3].download_button("masks.zip", lambda: data.masks_zip(state.store().run_dir(job_id)),
                            file_name=f"{job_id}_masks.zip", mime="application/zip", on_click="ignore")


@errors.guarded
def live(job_id: str) -> None:
    """The live part of the page; reruns every second while the job is active (an event that
    cannot be read shows as an error naming the job)."""
    record = state.job(job_id)
    if record is None:
        st.error(plain(f"Job {job_id} disappeared from the store."))
        return
    active = record["status"] in ACTIVE
    was_active = st.session_state.get("monitor_active", {}).get(job_id)
    st.session_state.setdefault("monitor_active", {})[job_id] = active
    if was_active and not active:
        st.rerun()                  # the job stopped: redraw the page once, without the timer
    events = state.feed(job_id)
    rounds, epochs = events_to_frames(events)
    controls(record)
    header(record, events)
    live_charts(record, rounds, epochs, len(events))
    analyses(rounds, epochs, events)
    st.caption(f"{len(events)} events · updated {time.strftime('%H:%M:%S')}"
               + (" · refreshing every second" if active else ""))


def analyses(rounds: pd.DataFrame, epochs: pd.DataFrame, events: list[dict]) -> None:
    """What the engine measured beyond accuracy: effective sparsity, stability, mask dynamics,
    compression at an accuracy drop (IAP Table 2) and ASNI's T1 columns."""
    main, _ = split_variants(rounds)
    with st.expander("Analyses", expanded=False):
        if len(main) > 1:
            left, right = st.columns(2)
            left.plotly_chart(figures.explicit_vs_effective(main), key="an_effective")
            right.plotly_chart(figures.stability_per_round(main), key="an_stability")
            table = compression_table(main).rename(columns={"drop": "accuracy drop"})
            st.caption("Most compressed round within an accuracy drop of 0 and 1 point from the dense network "
                       "(compression = total / remaining weights; FLOPs speed-up from non-zero FLOPs):")
            st.dataframe(table[[c for c in ("accuracy drop", "round", "remaining_fraction", "compression_ratio",
                                            "flops_speedup", "accuracy") if c in table]], hide_index=True)
        if len(epochs) and "mask_change_D" in epochs:
            st.plotly_chart(figures.mask_dynamics(epochs), key="an_dynamics")
        asni = [e for e in events if e["type"] == "asni_summary"]
        if asni:
            st.dataframe(pd.DataFrame([{"repeat": e["repeat"], "sparsity": e["final_sparsity"], "T1-A-I": e["t1_a_i"],
                                        "T1-A-II": e["t1_a_ii"], "T1-S": e["t1_s"]} for e in asni]), hide_index=True)
        if len(main) <= 1 and not asni:
            st.info("Analyses appear after the first pruning round.")


@errors.guarded
def masks_part(job_id: str) -> None:
    """The mask heatmaps of the job (refreshed on a slower timer than :func:`live`)."""
    record = state.job(job_id)
    if record is not None:
        mask_view(record, events_to_frames(state.feed(job_id))[0])


def unreadable(job_id: str) -> str | None:
    """Why the job cannot be shown — its record or one of its events cannot be read — or None."""
    try:
        record = state.job(job_id)
        if record is not None and not data.readable(record):
            return errors.problem(job_id, record.get("error") or "its record cannot be read")
        state.feed(job_id)
    except CorruptRecord as exc:
        return errors.problem(job_id, exc)
    return None


def show(job_id: str) -> None:
    """The whole Monitor view of one job, or an error naming it when it cannot be read."""
    reason = unreadable(job_id)
    if reason is not None:
        st.error(plain(reason), icon=":material/error:")
        st.caption("Only this job is affected: choose another one above.")
        return
    record = state.job(job_id)
    if record is None:
        st.error(plain(f"Job {job_id} disappeared from the store."))
        return
    active = record["status"] in ACTIVE
    if launcher.waits_for_worker(record):
        launcher.ensure_worker(state.cache_dir())      # e.g. the app restarted after its worker left
    st.fragment(live, run_every=LIVE_SECONDS if active else None)(job_id)
    st.subheader("Masks")
    st.fragment(masks_part, run_every=MASK_SECONDS if active else None)(job_id)
    st.subheader("Downloads")
    downloads(record)
    manage.labels_box(record)
