"""The job store: records, claiming, events, cancellation, liveness; JSON only, nothing evicted."""

import json
import sqlite3
import time

import pytest

from pruning_core.jobs import store as store_module
from pruning_core.jobs.store import JobStore


@pytest.fixture
def store(tmp_path):
    s = JobStore(tmp_path)
    yield s
    s.close()


def test_jobs_are_created_listed_and_claimed_oldest_first(store):
    a = store.create_job({"seed": 0}, "a" * 64)
    time.sleep(0.01)
    b = store.create_job({"seed": 1}, "b" * 64)
    assert [j["id"] for j in store.list_jobs()] == sorted([a["id"], b["id"]], reverse=True)
    claimed = store.claim_next(worker_pid=123, device="cpu")
    assert claimed["id"] == a["id"] and claimed["status"] == "running" and claimed["worker_pid"] == 123
    assert store.claim_next(worker_pid=123)["id"] == b["id"]
    assert store.claim_next(worker_pid=123) is None
    assert store.run_dir(a["id"]).root.is_dir()


def test_same_second_same_config_gets_distinct_ids(store):
    ids = {store.create_job({}, "c" * 64)["id"] for _ in range(3)}
    assert len(ids) == 3


def test_events_append_and_read_from_an_offset(store):
    job = store.create_job({}, "d" * 64)["id"]
    for i in range(5):
        assert store.append_event(job, {"type": "epoch", "i": i}) == i
    assert store.event_count(job) == 5
    assert [e["i"] for e in store.events(job, start=3)] == [3, 4]


def test_values_are_stored_as_json_not_pickles(store, tmp_path):
    job = store.create_job({"seed": 0}, "e" * 64)["id"]
    store.append_event(job, {"type": "round", "acc": 0.5})
    rows = sqlite3.connect(tmp_path / "store" / "events" / "cache.db").execute(
        "SELECT value FROM Cache WHERE value IS NOT NULL").fetchall()
    import zlib
    decoded = [json.loads(zlib.decompress(v)) for (v,) in rows]
    assert {"type": "round", "acc": 0.5} in decoded
    with pytest.raises(TypeError):
        store.append_event(job, {"tensor": object()})


def test_eviction_is_disabled(store):
    assert store._jobs.eviction_policy == "none" and store._events.eviction_policy == "none"


def test_cancel_queued_is_immediate_running_is_cooperative(store):
    queued = store.create_job({}, "f" * 64)["id"]
    store.request_cancel(queued)
    assert store.get_job(queued)["status"] == "cancelled"
    running = store.create_job({}, "g" * 64, status="running")["id"]
    assert store.heartbeat(running) is False
    store.request_cancel(running)
    assert store.get_job(running)["status"] == "running" and store.heartbeat(running) is True


def test_a_running_job_without_heartbeat_is_interrupted_and_can_be_requeued(store, monkeypatch):
    job = store.create_job({}, "h" * 64, status="running")["id"]
    store.heartbeat(job)
    assert store.get_job(job)["status"] == "running"
    monkeypatch.setattr(store_module, "HEARTBEAT_STALE_SECONDS", -1.0)
    assert store.get_job(job)["status"] == "interrupted"
    record = store.requeue(job)
    assert record["status"] == "queued" and record["resume"] is True


def test_unknown_job_error_lists_known_ones(store):
    job = store.create_job({}, "i" * 64)["id"]
    with pytest.raises(KeyError, match=job):
        store.get_job("nope")


def test_a_running_job_whose_local_worker_died_is_interrupted_without_waiting(store):
    job = store.create_job({}, "j" * 64, status="running")["id"]
    store.update_job(job, worker_pid=2 ** 22 + 12345, heartbeat=time.time() - 10)    # no such process
    assert store.get_job(job)["status"] == "interrupted"
    store.update_job(job, heartbeat=time.time())                                    # within the grace period
    assert store.get_job(job)["status"] == "running"
