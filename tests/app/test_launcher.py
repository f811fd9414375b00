"""The launcher with a real detached worker: submit, cancel cooperatively, resume without redoing rounds."""

from __future__ import annotations

import os
import signal
import time

import pytest

from pruning_core.config import Config
from ui import launcher
from pruning_core.jobs.store import JobStore


def wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield root
    for pid in launcher.worker_pids(root):
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def test_submit_cancel_resume_with_a_real_worker(cache):
    store = JobStore(cache)
    # 40 rounds of 6 epochs (~15 s): long enough to cancel in the middle
    config = Config.from_dict({"algorithm": {"rounds": 40, "rewind_epoch": 0, "rate": 0.1}})
    job = launcher.submit(config, cache, name="long")
    assert store.get_job(job)["status"] in ("queued", "running")
    pid = wait_for(lambda: launcher.worker_pids(cache), 30, "a worker")[0]
    assert os.getpgid(pid) == pid                       # its own process session: survives the app
    assert launcher.ensure_worker(cache) == pid         # a second call starts no second worker

    rounds_done = lambda: [e["round"] for e in store.events(job) if e["type"] == "round"]  # noqa: E731
    wait_for(lambda: len(rounds_done()) >= 2, 90, "two finished rounds")
    launcher.cancel(job, cache)
    wait_for(lambda: store.get_job(job)["status"] == "cancelled", 30, "the cancellation")
    kept = rounds_done()
    assert kept and kept == list(range(len(kept)))      # finished rounds are kept

    launcher.resume(job, cache)
    wait_for(lambda: store.get_job(job)["status"] == "finished", 120, "the resumed job to finish")
    events = store.events(job)
    rounds = [e["round"] for e in events if e["type"] == "round"]
    assert rounds == list(range(41))                    # every round once: none recomputed, none lost
    resumed = [e for e in events if e["type"] == "resumed"]
    assert resumed and resumed[0]["from_round"] == kept[-1]


def test_worker_leaves_a_core_to_the_app(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert launcher.worker_threads() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert launcher.worker_threads() == 15
