"""Living with many jobs: find them (text and tags), delete them, label them, and see what the
store holds on disk. Home shows the filter, the store's size and *Delete jobs*; Monitor shows
*Labels* for its job."""

from __future__ import annotations

import pathlib

import streamlit as st

from pruning_core.config.fields import ConfigError
from pruning_core.jobs.housekeeping import folder_size, human_size
from pruning_core.jobs.labels import matches

from . import errors, launcher, state
from .text import plain

SIZE_SECONDS = 60


@st.cache_data(ttl=SIZE_SECONDS, show_spinner=False)
def _size(root: str) -> int:
    return folder_size(pathlib.Path(root))


def store_size_text() -> str:
    """``store 1.2 GB on disk`` (counted at most once a minute: a big store takes a while to walk)."""
    return f"{human_size(_size(str(state.cache_dir())))} on disk"


def job_label(record: dict) -> str:
    """``<name> · <status>`` with the tags, for pickers."""
    tags = " ".join(f"#{t}" for t in record.get("tags") or [])
    name = record.get("name") or record["id"]
    return f"{name}{' (' + record['id'] + ')' if name != record['id'] else ''} · {record['status']} {tags}".strip()


def filtered(jobs: list[dict]) -> list[dict]:
    """The jobs that match the filter row (text in id, name, note or tags; every chosen tag)."""
    tags = sorted({t for j in jobs for t in j.get("tags") or []})
    left, right = st.columns([3, 2])
    text = left.text_input("Find", key="job_filter_text", placeholder="text in the id, name, note or tags")
    chosen = right.multiselect("Tags", tags, key="job_filter_tags", disabled=not tags,
                               placeholder="any" if tags else "no tags yet")
    shown = [j for j in jobs if matches(j, chosen, text.strip())]
    if len(shown) < len(jobs):
        st.caption(f"{len(shown)} of {len(jobs)} jobs match")
    return shown


def delete_box(jobs: list[dict]) -> None:
    """*Delete jobs*: pick jobs, confirm, delete them with their run folders (a running one is
    cancelled first and removed once it stops)."""
    with st.expander("Delete jobs"):
        labels = {j["id"]: job_label(j) for j in jobs}
        picked = st.multiselect("Jobs to delete", list(labels), format_func=labels.get, key="delete_jobs")
        running = [j for j in picked if next(r for r in jobs if r["id"] == j)["status"] in ("running", "queued")]
        sure = st.checkbox(f"Delete {len(picked)} job(s) with their events, masks and weights: this cannot be undone"
                           + (f" ({len(running)} queued or running: cancelled first)" if running else ""),
                           key="delete_sure", disabled=not picked)
        if st.button("Delete", key="delete_go", type="primary", disabled=not (picked and sure)):
            with errors.reported():
                outcomes = launcher.delete_jobs(picked, state.cache_dir())
                st.session_state.pop("delete_jobs", None)
                st.session_state.pop("delete_sure", None)
                pending = [j for j, o in outcomes.items() if o == "pending"]
                st.toast(f"deleted {len(outcomes) - len(pending)} job(s)"
                         + (f"; {len(pending)} will go once they stop" if pending else ""))
                st.rerun()


def labels_box(record: dict) -> None:
    """*Labels* of one job: its name, tags (comma-separated) and note; Save writes them."""
    with st.expander("Labels: name, tags, note"):
        key = f"labels:{record['id']}"
        name = st.text_input("Name", value=record.get("name") or record["id"], key=key + ":name")
        tags = st.text_input("Tags", value=", ".join(record.get("tags") or []), key=key + ":tags",
                             placeholder="e.g. baseline, lenet", help="comma-separated; filter by them on Home")
        note = st.text_area("Note", value=record.get("note") or "", key=key + ":note", height=80)
        if st.button("Save labels", key=key + ":save"):
            try:
                launcher.label(record["id"], state.cache_dir(), name=name, tags=tags.split(","), note=note)
            except ConfigError as exc:
                st.error("\n".join(f"- {plain(e)}" for e in exc.errors))
                return
            st.toast("labels saved")
            st.rerun()
