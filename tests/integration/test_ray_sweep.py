"""The Ray executor (issue 9): a 2×2 sweep on a local ``ray.init(num_cpus=2)`` gives, in the job
store, exactly what local runs give (rounds, masks, run-folder files, events under the real job
ids), and running it again reruns nothing; Cancel reaches a remote task and keeps its finished
rounds, and the requeued job resumes from the shipped run folder to the uninterrupted result; a
remote failure is recorded with its message; plug-in files travel with their jobs; without a
Ray initialised, the executor starts (and stops) its own and ships the package to its workers;
without Ray installed, or with an unreachable address, the error says what to do.

Ray's workers run with one thread (Ray sets ``OMP_NUM_THREADS=1`` for one-CPU tasks, and the
task sets torch's thread count), so the local reference runs use one thread too: the tables are
then compared exactly (all but ``seconds``).
"""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from pruning_core.errors import PrunelabError
from pruning_core.jobs.store import JobStore
from pruning_core.maskfile import load_masks_numpy
from pruning_core.runner import load_result, run
from pruning_core.sweeps import expand, parse_axis, queue_sweep
from pruning_core.sweeps.execute import execute

pytestmark = pytest.mark.slow

SKIP_REASON = "Ray is optional: pip install -r requirements-ray.txt"
TINY = {"training": {"epochs": 2, "batch_size": 100}, "algorithm": {"rounds": 2, "rewind_epoch": 1}}
# About 0.3 s per epoch: 3 dense epochs, then 8 rounds of 2 epochs (several seconds to cancel in).
LONG = {"training": {"epochs": 3, "batch_size": 10}, "algorithm": {"rounds": 8, "rewind_epoch": 1}}
DEADLINE = 150.0


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray", reason=SKIP_REASON)
    from pruning_core.sweeps.ray_executor import ray_runtime_env

    if ray.is_initialized():
        pytest.skip("Ray is already initialised in this process by something else")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=ray_runtime_env())
    yield ray
    ray.shutdown()


def reference(config, cache_dir):
    """A local, uninterrupted run of ``config`` on one thread, as Ray's one-CPU tasks run it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run(config, cache_dir=cache_dir, share_dense=False)
    finally:
        torch.set_num_threads(threads)


def assert_same_as_reference(cache_dir, job_id: str, ref) -> None:
    got = load_result(job_id, cache_dir=cache_dir)
    assert got.status == "finished"
    pd.testing.assert_frame_equal(got.rounds.drop(columns=["seconds"]), ref.rounds.drop(columns=["seconds"]))
    pd.testing.assert_frame_equal(got.epochs.drop(columns=["seconds"]), ref.epochs.drop(columns=["seconds"]))
    got_masks, ref_masks = got.run_dir.repeat(0).mask_files(), ref.run_dir.repeat(0).mask_files()
    assert list(got_masks) == list(ref_masks)
    for r in ref_masks:
        a, b = load_masks_numpy(got_masks[r]), load_masks_numpy(ref_masks[r])
        assert a.keys() == b.keys()
        for name in b:
            assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), (job_id, r, name)
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())  # noqa: E731
    assert files(got.run_dir.root) == files(ref.run_dir.root)
    assert got.run_dir.repeat(0).committed()["round"] == ref.run_dir.repeat(0).committed()["round"]


def test_sweep_2x2_on_ray_matches_local_runs(ray_session, tmp_path):
    cache = tmp_path / "cache"
    grid = expand(TINY, [parse_axis("pruner.score=magnitude,random"), parse_axis("seed=0,1")])
    sweep = queue_sweep(grid, cache, name="ray 2x2")
    done: list[dict] = []
    records = execute(sweep, cache, done.append, executor="ray")

    assert sorted(r["id"] for r in done) == sorted(sweep["jobs"])          # once per job
    assert set(records) == set(sweep["jobs"])
    for member, job_id in zip(grid.members, sweep["jobs"]):
        record = records[job_id]
        assert record["status"] == "finished", record.get("error")
        assert record["worker_pid"] == os.getpid() and record["finished"] >= record["started"]
        assert record["progress"]["epochs_done"] == record["progress"]["epochs_total"] == 4
        with JobStore(cache) as store:
            events = store.events(job_id)
        assert events and all(e["job"] == job_id for e in events)
        types = [e["type"] for e in events]
        assert types[0] == "run_started" and types[-1] == "run_finished" and types.count("round") == 3
        assert record["axes"] == member.values
        assert_same_as_reference(cache, job_id, reference(member.config, tmp_path / "ref" / job_id))

    # A finished job is never run again: executing the sweep once more changes nothing.
    with JobStore(cache) as store:
        counts = {job_id: store.event_count(job_id) for job_id in sweep["jobs"]}
    again = execute(sweep, cache, executor="ray")
    assert {j: r["finished"] for j, r in again.items()} == {j: r["finished"] for j, r in records.items()}
    with JobStore(cache) as store:
        assert {job_id: store.event_count(job_id) for job_id in sweep["jobs"]} == counts


def test_a_remote_failure_is_recorded_with_its_message(ray_session, tmp_path):
    base = {**TINY, "dataset": {"name": "mnist", "download": False, "data_dir": str(tmp_path / "no-data")}}
    sweep = queue_sweep(expand(base, [parse_axis("seed=0")]), tmp_path)
    job_id = sweep["jobs"][0]
    record = execute(sweep, tmp_path, executor="ray")[job_id]
    assert record["status"] == "failed"
    assert record["error"].startswith("DatasetNotAvailable: dataset 'mnist' is not available"), record["error"]
    assert "Traceback" in record["traceback"]
    with JobStore(tmp_path) as store:
        events = store.events(job_id)
    assert events[-1]["type"] == "run_failed" and events[-1]["job"] == job_id
    assert events[-1]["error"] == record["error"]


def test_cancel_reaches_the_task_and_requeue_resumes(ray_session, tmp_path):
    cache = tmp_path / "cache"
    grid = expand(LONG, [parse_axis("seed=0")])
    sweep = queue_sweep(grid, cache)
    job_id = sweep["jobs"][0]
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.update(execute(sweep, cache, executor="ray")), daemon=True)
    thread.start()
    with JobStore(cache) as store:
        deadline = time.monotonic() + DEADLINE
        while not any(e["type"] == "round" for e in store.events(job_id)):
            assert thread.is_alive() and time.monotonic() < deadline, "no round arrived from the Ray task"
            time.sleep(0.05)
        assert store.get_job(job_id)["status"] == "running"
        store.request_cancel(job_id)
        thread.join(DEADLINE)
        assert not thread.is_alive(), "the Ray executor did not return after the cancel"
        record = store.get_job(job_id)
        assert outcome[job_id]["status"] == record["status"] == "cancelled", record.get("error")
        events = store.events(job_id)
        assert all(e["job"] == job_id for e in events) and events[-1]["type"] == "run_cancelled"

        # Finished rounds stay: each one's masks, and the commit point names the last of them.
        rounds = load_result(job_id, store=store).rounds
        assert 1 <= len(rounds) < 9, "the cancel did not stop the run"
        repeat = store.run_dir(job_id).repeat(0)
        assert list(repeat.mask_files()) == rounds["round"].tolist()
        assert repeat.committed()["round"] == rounds["round"].max()

        store.requeue(job_id)
    records = execute(sweep, cache, executor="ray")
    assert records[job_id]["status"] == "finished", records[job_id].get("error")
    with JobStore(cache) as store:
        events = store.events(job_id)
    assert all(e["job"] == job_id for e in events)
    assert [e for e in events if e["type"] == "resumed"][-1]["from_round"] == rounds["round"].max()
    assert_same_as_reference(cache, job_id, reference(grid.members[0].config, tmp_path / "ref"))


def test_plugin_files_travel_with_the_job(ray_session, tmp_path):
    import pathlib

    from pruning_core.registry import temporary_plugin

    plugin = pathlib.Path(__file__).resolve().parents[2] / "examples" / "magnitude_increase.py"
    with temporary_plugin(plugin):                      # the driver validates the grid with it
        grid = expand(TINY, [parse_axis("pruner.score=magnitude_increase")])
        sweep = queue_sweep(grid, tmp_path, plugins=[str(plugin)])
    job_id = sweep["jobs"][0]
    record = execute(sweep, tmp_path, executor="ray")[job_id]   # the worker loads the shipped copy
    assert record["status"] == "finished", record.get("error")
    with temporary_plugin(plugin):                      # reading the job's config needs it here too
        assert len(load_result(job_id, cache_dir=tmp_path).rounds) == 3


STARTS_ITS_OWN_RAY = """
import json, sys
sys.path.insert(0, sys.argv[3])     # the driver finds pruning_core; Ray's workers only through the shipped package
import ray
from pruning_core.sweeps import expand, parse_axis, queue_sweep
from pruning_core.sweeps.execute import execute
cache = sys.argv[1]
sweep = queue_sweep(expand(json.loads(sys.argv[2]), [parse_axis("seed=0")]), cache)
records = execute(sweep, cache, executor="ray", slots=1)
print(json.dumps({"status": [r["status"] for r in records.values()], "error": [r["error"] for r in records.values()],
                  "still_initialised": ray.is_initialized()}))
"""


def test_without_a_ray_it_starts_a_local_one_and_ships_the_code(tmp_path):
    """In a fresh process run from a folder where ``pruning_core`` is not importable by path, the
    executor starts a local Ray (``slots`` CPUs), ships the package to its workers, and shuts
    that Ray down again."""
    import json
    import pathlib
    import subprocess

    pytest.importorskip("ray", reason=SKIP_REASON)
    repo = pathlib.Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PRUNELAB_CACHE", "RAY_ADDRESS")}
    args = [str(tmp_path / "cache"), json.dumps(TINY), str(repo)]
    out = subprocess.run([sys.executable, "-c", STARTS_ITS_OWN_RAY, *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=DEADLINE)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"status": ["finished"], "error": [None], "still_initialised": False}, out.stderr[-3000:]


def test_the_app_sends_a_sweep_to_ray_through_a_detached_driver(tmp_path, monkeypatch):
    """The app's way (*Run on → Ray*): the launcher queues the sweep for Ray and starts a
    detached ``sweep --resume … --executor ray`` driver; the store's worker never takes its jobs;
    both jobs finish, written into the store, and the driver leaves with its lock released."""
    import signal

    from pruning_core.jobs.worker import driver_lock_path, lock_holder, worker_running
    from ui import launcher

    pytest.importorskip("ray", reason=SKIP_REASON)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    root = tmp_path / "cache"
    grid = expand(TINY, [parse_axis("seed=0,1")])
    sweep = launcher.submit_sweep(grid, root, name="on-ray", origin="test", executor="ray")
    store = JobStore(root)
    try:
        deadline = time.time() + DEADLINE
        while time.time() < deadline and any(store.get_job(j)["status"] not in ("finished", "failed")
                                             for j in sweep["jobs"]):
            time.sleep(0.5)
        log = (root / "store" / f"driver-{sweep['id']}.log").read_text()
        records = [store.get_job(j) for j in sweep["jobs"]]
        assert [r["status"] for r in records] == ["finished", "finished"], log[-3000:]
        assert all(any(e["type"] == "round" for e in store.events(r["id"])) for r in records)
        assert worker_running(root) is None                 # no local worker was started for it
        deadline = time.time() + 30
        while lock_holder(driver_lock_path(root, sweep["id"])) is not None and time.time() < deadline:
            time.sleep(0.2)
        assert lock_holder(driver_lock_path(root, sweep["id"])) is None, log[-3000:]
    finally:
        for pid in launcher.worker_pids(root):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def test_without_ray_the_error_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)          # `import ray` raises ImportError
    sweep = queue_sweep(expand(TINY, [parse_axis("seed=0")]), tmp_path)
    with pytest.raises(PrunelabError, match=r"the ray executor needs Ray: pip install -r requirements-ray\.txt"):
        execute(sweep, tmp_path, executor="ray")
    with JobStore(tmp_path) as store:
        assert store.get_job(sweep["jobs"][0])["status"] == "queued"      # nothing was claimed


def test_unreachable_address_is_a_clear_error(monkeypatch, tmp_path):
    ray = pytest.importorskip("ray", reason=SKIP_REASON)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)   # as in a fresh process, even after the fixture
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("ray.init called for an address nobody serves"))
    sweep = queue_sweep(expand(TINY, [parse_axis("seed=0")]), tmp_path)
    started = time.monotonic()
    with pytest.raises(PrunelabError, match=r"cannot reach the Ray cluster at ray://127\.0\.0\.1:1"):
        execute(sweep, tmp_path, executor="ray", address="ray://127.0.0.1:1")
    assert time.monotonic() - started < 30
    with JobStore(tmp_path) as store:
        assert store.get_job(sweep["jobs"][0])["status"] == "queued"


def test_a_connection_error_from_ray_init_names_the_address(monkeypatch, tmp_path):
    ray = pytest.importorskip("ray", reason=SKIP_REASON)
    from pruning_core.sweeps import ray_connect

    def refuse(*args, **kwargs):
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray_connect, "check_reachable", lambda address: None)  # something listens, not Ray
    sweep = queue_sweep(expand(TINY, [parse_axis("seed=0")]), tmp_path)
    with pytest.raises(PrunelabError, match=r"cannot connect to the Ray cluster at head\.example:6379: Connection"):
        execute(sweep, tmp_path, executor="ray", address="head.example:6379")
