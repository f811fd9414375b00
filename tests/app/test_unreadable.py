"""One unreadable job record, or a job with an unreadable event, does not stop the pages; a store
that cannot be read or written shows its message instead of a traceback.

The store's answers are faked with the shapes it promises (``JobStore.list_jobs`` lists an
unreadable record with status ``unreadable`` and the reason in ``error``; ``get_job`` and
``events`` raise :class:`CorruptRecord`), around two good jobs: the seeded finished run and a
copy of it under another id.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import sqlite3
import zlib

import pytest
from streamlit.testing.v1 import AppTest

from pruning_core.errors import CorruptRecord, StoreError
from pruning_core.jobs.store import JobStore

REPO = pathlib.Path(__file__).resolve().parents[2]
BROKEN = "20991231-235959-deadbeef"          # sorts first: the newest job
RECORD_REASON = (f"job {BROKEN}: its record in /cache/store/jobs/cache.db is unreadable: an undecodable "
                 "value (JSONDecodeError: Expecting value: line 1 column 1)")
USUAL_KEYS = ("config", "config_hash", "origin", "created", "started", "finished", "heartbeat", "worker_pid",
              "device", "cancel_requested", "traceback", "progress", "plugins")


def event_reason(job_id: str) -> str:
    return f"job {job_id}: event 3 in /cache/store/events/cache.db is unreadable: a value stored in pickle mode"


def copy_job(store: JobStore, job_id: str, name: str) -> str:
    """A finished copy of a job under a new id: record, events and run folder."""
    first = store.get_job(job_id)
    second = store.create_job(first["config"], first["config_hash"], status="finished", origin="test",
                              name=name)["id"]
    store.update_job(second, progress=first["progress"], device=first["device"], finished=first["finished"])
    for event in store.events(job_id):
        store.append_event(second, event)
    shutil.copytree(store.run_dir(job_id).root, store.run_dir(second).root, dirs_exist_ok=True)
    return second


@pytest.fixture
def stores(store_dir, monkeypatch) -> dict:
    """Two good jobs (``good``: events readable, ``bad_events``: one event unreadable) and an
    unreadable record, as the store reports them."""
    root, job_id = store_dir
    store = JobStore(root)
    second = copy_job(store, job_id, "second")
    broken = {**dict.fromkeys(USUAL_KEYS), "id": BROKEN, "name": BROKEN, "status": "unreadable",
              "error": RECORD_REASON}

    list_jobs, get_job, events = JobStore.list_jobs, JobStore.get_job, JobStore.events

    def fake_list_jobs(self):
        return sorted([*list_jobs(self), dict(broken)], key=lambda r: r["id"], reverse=True)

    def fake_get_job(self, job):
        if job == BROKEN:
            raise CorruptRecord(RECORD_REASON)
        return get_job(self, job)

    def fake_events(self, job, start=0):
        if job == second:
            raise CorruptRecord(event_reason(second))
        return events(self, job, start)

    monkeypatch.setattr(JobStore, "list_jobs", fake_list_jobs)
    monkeypatch.setattr(JobStore, "get_job", fake_get_job)
    monkeypatch.setattr(JobStore, "events", fake_events)
    return {"good": job_id, "bad_events": second}


def page(name: str | None = None, **query) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    if name is None:
        return at
    at.query_params.update(query)
    return at.switch_page(f"pages/{name}.py").run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def literal(markdown: str) -> str:
    """What markdown shows for text whose punctuation is backslash-escaped."""
    return re.sub(r"\\(.)", r"\1", markdown)


def shown(elements) -> str:
    return "\n".join(literal(e.value) for e in elements)


def trace_names(at: AppTest) -> list[str]:
    import json
    return [t.get("name") or "" for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]]


# ---- home ------------------------------------------------------------------------------------

def test_home_lists_an_unreadable_job_with_its_reason_and_the_rest(stores, no_worker):
    at = page()
    no_exception(at)
    table = at.dataframe[0].value.set_index("job")
    assert table.loc[BROKEN, "status"] == "unreadable"
    assert table.loc[BROKEN, "experiment"] == RECORD_REASON
    assert table.loc[stores["good"], "status"] == "finished" and table.loc[stores["bad_events"], "status"] == "finished"
    assert "second: lenet300_100/digits" in table.loc[stores["bad_events"], "experiment"]
    assert RECORD_REASON in shown(at.warning)
    assert "1 unreadable" in shown(at.caption)


# ---- monitor ---------------------------------------------------------------------------------

def test_monitor_names_an_unreadable_job_and_offers_the_others(stores, no_worker):
    at = page("2_Monitor", job=BROKEN)
    no_exception(at)
    assert RECORD_REASON in shown(at.error)
    picker = at.selectbox(key=f"job_pick:{BROKEN}")
    assert f"{BROKEN} · unreadable" in picker.options                    # the labels of the choices
    assert {o.split(" · ")[0] for o in picker.options} == {BROKEN, stores["good"], stores["bad_events"]}
    assert not at.get("plotly_chart") and not at.metric
    picker.select(stores["good"]).run()
    no_exception(at)
    assert {m.label: m.value for m in at.metric}["Status"] == "finished"
    assert not at.error


def test_monitor_names_a_job_whose_events_are_unreadable(stores, no_worker):
    at = page("2_Monitor", job=stores["bad_events"])
    no_exception(at)
    assert event_reason(stores["bad_events"]) in shown(at.error)
    assert not at.get("plotly_chart")


def test_monitor_opens_on_the_newest_job_even_when_it_is_unreadable(stores, no_worker):
    at = page("2_Monitor")
    no_exception(at)
    assert RECORD_REASON in shown(at.error)


# ---- compare ---------------------------------------------------------------------------------

def test_compare_skips_unreadable_jobs_with_a_warning_and_plots_the_rest(stores, no_worker):
    good, bad = stores["good"], stores["bad_events"]
    at = page("3_Compare", jobs=f"{BROKEN},{good},{bad}")
    no_exception(at)
    assert at.multiselect(key="compare_jobs").value == [BROKEN, good, bad]
    warning = shown(at.warning)
    assert RECORD_REASON in warning and event_reason(bad) in warning
    assert list(at.dataframe[0].value["job"]) == [good]
    assert at.selectbox(key="baseline").options == [good]
    assert any(n.startswith(good) for n in trace_names(at))
    # the experiment picker copes with the unreadable record: "all its seeds" is just itself
    at.selectbox(key="seeds_anchor").select(BROKEN).run()
    at.button(key="seeds_button").click().run()
    no_exception(at)
    assert at.multiselect(key="compare_jobs").value == [BROKEN]


def test_compare_default_selection_leaves_unreadable_jobs_out(stores, no_worker):
    at = page("3_Compare")
    no_exception(at)
    assert BROKEN not in at.multiselect(key="compare_jobs").value


def test_experiment_estimate_ignores_jobs_it_cannot_read(stores, no_worker):
    at = page("1_Experiment")
    no_exception(at)
    assert not at.error
    assert not at.button(key="launch").disabled


# ---- a store that cannot be read or written --------------------------------------------------

STORE_DOWN = "the job store in /cache cannot be read: disk I/O error (sqlite3.OperationalError)"


@pytest.mark.parametrize("name", [None, "1_Experiment", "2_Monitor", "3_Compare"])
def test_an_unreadable_store_shows_its_message(store_dir, no_worker, monkeypatch, name):
    def down(self, *args, **kwargs):
        raise StoreError(STORE_DOWN)
    monkeypatch.setattr(JobStore, "list_jobs", down)
    at = page(name)
    no_exception(at)
    assert STORE_DOWN in shown(at.error)


def test_a_full_disk_on_launch_shows_its_message(store_dir, no_worker, monkeypatch):
    full = "the job store in /cache cannot be written: [Errno 28] No space left on device"

    def refuse(self, *args, **kwargs):
        raise StoreError(full)
    monkeypatch.setattr(JobStore, "create_job", refuse)
    at = page()
    at.button(key="quick_launch").click().run()
    no_exception(at)
    assert full in shown(at.error)
    assert [t.value for t in at.title] == ["✂️ Prunelab"]         # still on Home, nothing queued
    assert list(at.dataframe[0].value["status"]) == ["finished"]   # and the rest of the page is drawn


# ---- the same with real damage to the store's files ---------------------------------------------

def garble(root: pathlib.Path, which: str, key: str) -> None:
    """Overwrite the stored value of ``key`` in the jobs or events database with bytes that decode to nothing."""
    db = sqlite3.connect(root / "store" / which / "cache.db")
    rowid = next(r for r, k in db.execute("SELECT rowid, key FROM Cache") if zlib.decompress(k).decode() == f'"{key}"')
    db.execute("UPDATE Cache SET value = ? WHERE rowid = ?", (b"\x00garbage\xff", rowid))
    db.commit()
    db.close()


def test_the_pages_survive_a_garbled_record_and_a_garbled_event(store_dir, no_worker):
    root, good = store_dir
    store = JobStore(root)
    bad_events, broken = copy_job(store, good, "second"), copy_job(store, good, "third")
    store.close()
    garble(root, "jobs", broken)
    garble(root, "events", f"{bad_events}/000000003")
    at = page()
    no_exception(at)
    table = at.dataframe[0].value.set_index("job")
    assert table.loc[broken, "status"] == "unreadable" and broken in table.loc[broken, "experiment"]
    assert table.loc[good, "status"] == table.loc[bad_events, "status"] == "finished"
    at = page("2_Monitor", job=broken)
    no_exception(at)
    assert broken in shown(at.error) and "unreadable" in shown(at.error)
    at = page("2_Monitor", job=bad_events)
    no_exception(at)
    assert f"job {bad_events}: event 3" in shown(at.error)
    at = page("3_Compare", jobs=f"{broken},{good},{bad_events}")
    no_exception(at)
    assert broken in shown(at.warning) and f"job {bad_events}: event 3" in shown(at.warning)
    assert list(at.dataframe[0].value["job"]) == [good]
