"""Which process runs which sweep job (issue 9): the store's worker claims only ``local`` jobs, a
Ray sweep's jobs wait for its driver; resuming hands a sweep's unfinished jobs to an executor
(finished ones are never rerun); one driver per sweep; the CLI resumes with the sweep's own
executor unless told otherwise; the app's launcher starts the driver, not the worker, for Ray."""

from __future__ import annotations

import pytest

from pruning_core.jobs.store import JobStore
from pruning_core.jobs.worker import WorkerLock, driver_lock_path
from pruning_core.sweeps import Axis, expand, queue_sweep
from pruning_core.sweeps.execute import hand_over

TINY = {"training": {"epochs": 2}, "algorithm": {"rounds": 1, "rewind_epoch": 1}}


def queued(root, executor: str, seeds=(0, 1), address=None) -> dict:
    grid = expand(TINY, [Axis("seed", tuple(seeds))])
    return queue_sweep(grid, root, name=executor, origin="test", executor=executor, address=address)


def test_the_worker_never_claims_a_ray_sweeps_jobs(tmp_path):
    ray_sweep = queued(tmp_path, "ray", address="head:6379")
    store = JobStore(tmp_path)
    assert store.get_sweep(ray_sweep["id"])["executor"] == "ray"
    assert store.get_sweep(ray_sweep["id"])["address"] == "head:6379"
    assert {store.get_job(j)["executor"] for j in ray_sweep["jobs"]} == {"ray"}
    assert store.claim_next(worker_pid=1) is None and not store.has_queued()
    local = queued(tmp_path, "local", seeds=(5,))
    assert store.has_queued()
    assert store.claim_next(worker_pid=1)["id"] == local["jobs"][0]       # the local one, though younger
    assert store.claim_next(worker_pid=1) is None
    assert store.claim(ray_sweep["jobs"][0], worker_pid=2)["status"] == "running"   # the driver's way


def test_hand_over_requeues_the_stopped_moves_the_queued_and_keeps_the_finished(tmp_path):
    sweep = queued(tmp_path, "ray", seeds=(0, 1, 2, 3))
    store = JobStore(tmp_path)
    done, failed, cancelled, waiting = sweep["jobs"]
    store.update_job(done, status="finished")
    store.update_job(failed, status="failed", error="boom")
    store.request_cancel(cancelled)
    assert hand_over(store, sweep, "local") == 3
    states = {j: store.get_job(j) for j in sweep["jobs"]}
    assert states[done]["status"] == "finished" and states[done]["executor"] == "ray"   # never rerun
    for job in (failed, cancelled, waiting):
        assert states[job]["status"] == "queued" and states[job]["executor"] == "local", job
    assert states[failed]["resume"] and states[failed]["error"] is None
    claimed = [store.claim_next(worker_pid=1)["id"] for _ in range(3)]
    assert sorted(claimed) == sorted([failed, cancelled, waiting])
    assert hand_over(store, sweep, "ray") == 0                          # nothing stopped nor waiting now


def test_a_second_driver_of_the_same_sweep_is_refused(tmp_path):
    pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")
    from pruning_core.sweeps.ray_executor import RayExecutorError, execute_ray

    sweep = queued(tmp_path, "ray")
    lock = WorkerLock(driver_lock_path(tmp_path, sweep["id"]))
    assert lock.acquire()
    try:
        with pytest.raises(RayExecutorError, match=rf"sweep {sweep['id']}: the process \d+ already drives"):
            execute_ray(sweep, tmp_path)
    finally:
        lock.release()


def test_cli_resume_uses_the_sweeps_executor_unless_told(tmp_path, monkeypatch):
    from pruning_core.__main__ import main
    from pruning_core.sweeps import execute as execute_module

    calls = []
    monkeypatch.setattr(execute_module, "check_executor", lambda executor, address=None: None)
    monkeypatch.setattr(execute_module, "execute",
                        lambda sweep, cache, done, **kw: calls.append(kw) or {})
    sweep = queued(tmp_path, "ray", address="head:6379")
    assert main(["--cache", str(tmp_path), "sweep", "--resume", sweep["id"]]) == 0
    assert calls[-1]["executor"] == "ray" and calls[-1]["address"] == "head:6379"
    assert main(["--cache", str(tmp_path), "sweep", "--resume", sweep["id"], "--executor", "local"]) == 0
    assert calls[-1]["executor"] == "local" and calls[-1]["address"] is None
    store = JobStore(tmp_path)
    assert {store.get_job(j)["executor"] for j in sweep["jobs"]} == {"local"}


def test_the_launcher_starts_a_driver_for_a_ray_sweep_and_again_on_resume(tmp_path, monkeypatch):
    from ui import launcher

    spawned, workers = [], []
    monkeypatch.setattr(launcher, "check_executor", lambda executor, address=None: None)
    monkeypatch.setattr(launcher, "_spawn", lambda root, command, log, role: spawned.append((command, role)) or 7)
    monkeypatch.setattr(launcher, "ensure_worker", lambda cache_dir=None: workers.append(cache_dir) or 1)
    grid = expand(TINY, [Axis("seed", (0, 1))])
    sweep = launcher.submit_sweep(grid, tmp_path, name="r", executor="ray", origin="test")
    assert spawned == [(["sweep", "--resume", sweep["id"], "--executor", "ray"], sweep["id"])] and not workers
    store = JobStore(tmp_path)
    store.update_job(sweep["jobs"][0], status="interrupted")
    monkeypatch.setattr(launcher, "_children", lambda root, role="worker": [])   # the first driver has gone
    assert launcher.resume_sweep(sweep["id"], tmp_path) == 2        # the requeued job and the waiting one
    assert len(spawned) == 2 and not workers
    launcher.resume(sweep["jobs"][0], tmp_path)                     # one job of it: on Ray again
    assert len(spawned) == 3 and not workers
    local = launcher.submit_sweep(grid, tmp_path, name="l", executor="local", origin="test")
    assert workers == [tmp_path] and len(spawned) == 3 and local["executor"] == "local"
