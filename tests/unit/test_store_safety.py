"""The job store under damage and attack (issue 8): one bad record stays one bad job, pickled rows
are refused, files are private, storage failures name the store, one worker per store."""

from __future__ import annotations

import errno
import multiprocessing
import os
import pickle
import sqlite3
import stat
import subprocess
import time
import zlib

import pytest

from pruning_core.errors import CorruptRecord, StoreError
from pruning_core.jobs import worker as worker_module
from pruning_core.jobs.store import JobStore, pid_alive


def tiny(rounds: int) -> dict:
    """A run of a second: LeNet-300-100 on digits, T = 2 epochs, rewind to k = 1."""
    return {"training": {"epochs": 2, "batch_size": 100}, "algorithm": {"rounds": rounds, "rewind_epoch": 1}}


@pytest.fixture
def store(tmp_path):
    s = JobStore(tmp_path)
    yield s
    s.close()


def _db(store: JobStore, which: str = "jobs") -> sqlite3.Connection:
    return sqlite3.connect(store.root / "store" / which / "cache.db")


def _rowid_of(store: JobStore, key: str, which: str = "jobs") -> int:
    for rowid, raw_key in _db(store, which).execute("SELECT rowid, key FROM Cache"):
        if zlib.decompress(raw_key).decode() == f'"{key}"':
            return rowid
    raise AssertionError(f"no row for {key}")


def _garble(store: JobStore, key: str, which: str = "jobs") -> None:
    db = _db(store, which)
    db.execute("UPDATE Cache SET value = ? WHERE rowid = ?", (b"\x00garbage\xff", _rowid_of(store, key, which)))
    db.commit()


# ---- defect 1: one corrupted record --------------------------------------------------------------

def test_a_garbled_record_is_listed_as_unreadable_and_skipped_by_the_queue(store):
    a, bad, c = (store.create_job({"seed": i}, f"{i}" * 64)["id"] for i in range(3))
    _garble(store, bad)
    listed = {j["id"]: j for j in store.list_jobs()}
    assert set(listed) == {a, bad, c}
    assert listed[bad]["status"] == "unreadable" and listed[bad]["config"] is None
    assert bad in listed[bad]["error"] and "cache.db" in listed[bad]["error"]
    assert listed[a]["status"] == listed[c]["status"] == "queued"
    with pytest.raises(CorruptRecord, match=bad):
        store.get_job(bad)
    claimed = [store.claim_next(worker_pid=1)["id"], store.claim_next(worker_pid=1)["id"]]
    assert sorted(claimed) == sorted([a, c]) and store.claim_next(worker_pid=1) is None


def test_a_record_of_the_wrong_shape_is_unreadable_with_the_reason(store):
    good = store.create_job({}, "a" * 64)["id"]
    store._jobs["20260101-000000-deadbeef"] = [1, 2, 3]
    store._jobs["20260101-000001-deadbeef"] = {"id": "x", "status": "exploded", "config": {}, "created": 1.0}
    listed = {j["id"]: j for j in store.list_jobs()}
    assert "holds a list" in listed["20260101-000000-deadbeef"]["error"]
    assert "'exploded'" in listed["20260101-000001-deadbeef"]["error"]
    assert store.claim_next(worker_pid=1)["id"] == good


def test_an_unreadable_event_names_the_job_the_event_and_the_file(store):
    job = store.create_job({}, "b" * 64)["id"]
    for i in range(3):
        store.append_event(job, {"type": "epoch", "i": i})
    _garble(store, f"{job}/000000001", "events")
    with pytest.raises(CorruptRecord, match=rf"job {job}: event 1 in .*events/cache.db is unreadable"):
        store.events(job)
    assert store.events(job, start=2) == [{"type": "epoch", "i": 2}]


# ---- defect 10: pickled rows, private files -----------------------------------------------------

class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))      # unpickling would create the file


def test_pickled_keys_and_values_are_refused_never_unpickled(store, tmp_path):
    good = store.create_job({}, "c" * 64)["id"]
    planted_value, planted_key = tmp_path / "value_ran", tmp_path / "key_ran"
    db = _db(store)
    db.execute("INSERT INTO Cache (key, raw, store_time, expire_time, access_time, access_count, tag, size, mode, "
               "filename, value) VALUES (?, 1, 0, NULL, 0, 0, NULL, 0, 4, NULL, ?)",
               (zlib.compress(b'"20260101-000000-planted1"', 1), pickle.dumps(_Payload(str(planted_value)))))
    db.execute("INSERT INTO Cache (key, raw, store_time, expire_time, access_time, access_count, tag, size, mode, "
               "filename, value) VALUES (?, 0, 0, NULL, 0, 0, NULL, 0, 1, NULL, ?)",
               (pickle.dumps(_Payload(str(planted_key))), b"x"))
    db.commit()
    listed = {j["id"]: j for j in store.list_jobs()}
    assert not planted_value.exists() and not planted_key.exists()
    assert "pickle" in listed["20260101-000000-planted1"]["error"]
    assert [j for j in listed.values() if j["status"] == "unreadable" and "key" in j["error"]]
    assert store.claim_next(worker_pid=1)["id"] == good
    assert not planted_value.exists() and not planted_key.exists()


def test_the_cache_dir_and_its_files_are_private(store):
    from pruning_core.rundir import atomic_write

    job = store.create_job({}, "d" * 64)["id"]
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(store.root) == mode(store.root / "store") == mode(store.runs) == 0o700
    assert mode(store.root / "store" / "jobs" / "cache.db") == 0o600
    assert mode(store.run_dir(job).root) == 0o700
    written = atomic_write(store.run_dir(job).root / "x" / "f.json", lambda f: f.write(b"{}"))
    assert mode(written) == 0o600 and mode(written.parent) == 0o700


# ---- defect 6: storage failures name the store ---------------------------------------------------

def test_a_full_disk_becomes_a_store_error_naming_the_store(store, monkeypatch):
    job = store.create_job({}, "e" * 64)["id"]

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(type(store._events), "__setitem__", full)
    with pytest.raises(StoreError, match=rf"job store {store.root} cannot be written: the disk is full"):
        store.append_event(job, {"type": "epoch"})


def test_a_damaged_database_file_is_a_store_error(tmp_path):
    (tmp_path / "store" / "jobs").mkdir(parents=True)
    (tmp_path / "store" / "jobs" / "cache.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=rf"job store {tmp_path}/store/jobs cannot be opened: its database file is damaged"):
        JobStore(tmp_path)


def test_a_run_that_hits_a_full_disk_is_failed_with_the_reason_and_keeps_finished_rounds(tmp_path, monkeypatch):
    from pruning_core.rundir import RepeatDir
    from pruning_core.runner import load_result, run

    real = RepeatDir.save_masks

    def no_space(self, round_index, masks):
        if round_index == 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.mask_file(round_index)))
        return real(self, round_index, masks)
    monkeypatch.setattr(RepeatDir, "save_masks", no_space)
    with pytest.raises(OSError):
        run(tiny(rounds=2), cache_dir=tmp_path)
    with JobStore(tmp_path) as s:
        job = s.list_jobs()[0]
    assert job["status"] == "failed" and "No space left on device" in job["error"] and "round_001.npz" in job["error"]
    assert load_result(job["id"], cache_dir=tmp_path).rounds["round"].tolist() == [0]


def test_a_run_whose_store_fills_up_records_the_reason(tmp_path, monkeypatch):
    from pruning_core.runner import run

    real = JobStore.append_event

    def full_after_round_0(self, job_id, event):
        if event["type"] == "epoch" and event["round"] == 1:
            raise StoreError(f"the job store {self.root} cannot be written: the disk is full")
        return real(self, job_id, event)
    monkeypatch.setattr(JobStore, "append_event", full_after_round_0)
    with pytest.raises(StoreError):
        run(tiny(rounds=1), cache_dir=tmp_path)
    with JobStore(tmp_path) as s:
        job = s.list_jobs()[0]
    assert job["status"] == "failed" and "disk is full" in job["error"] and str(tmp_path) in job["error"]


# ---- defects 4 and 7: one worker per store, dead workers look dead -------------------------------

def _try_lock(path, results, barrier):
    barrier.wait()
    lock = worker_module.WorkerLock(path)
    results.put(lock.acquire())
    time.sleep(0.5)                       # hold it while the others try


def test_exactly_one_of_many_racing_workers_takes_the_lock(tmp_path):
    ctx = multiprocessing.get_context("fork")
    path = worker_module.worker_lock_path(tmp_path)
    for _ in range(3):
        results, barrier = ctx.Queue(), ctx.Barrier(12)
        procs = [ctx.Process(target=_try_lock, args=(path, results, barrier)) for _ in range(12)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=10) for _ in procs]
        for p in procs:
            p.join()
        assert outcomes.count(True) == 1
    assert worker_module.worker_running(tmp_path) is None        # all exited: the lock is free again


def test_the_lock_names_its_holder_and_is_released_by_death(tmp_path):
    path = worker_module.worker_lock_path(tmp_path)
    lock = worker_module.WorkerLock(path)
    assert lock.acquire() and worker_module.worker_running(tmp_path) == os.getpid()
    assert not worker_module.WorkerLock(path).acquire()
    lock.release()
    assert worker_module.worker_running(tmp_path) is None
    holder = subprocess.Popen(["python3", "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR);"
                               "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode());"
                               "print('locked', flush=True); time.sleep(60)", str(path)], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"locked"
    assert worker_module.worker_running(tmp_path) == holder.pid
    holder.kill()
    holder.wait()
    assert worker_module.worker_running(tmp_path) is None and worker_module.WorkerLock(path).acquire()


def test_a_zombie_process_counts_as_dead():
    child = subprocess.Popen(["true"])
    deadline = time.time() + 5
    while pid_alive(child.pid) and time.time() < deadline:   # exited, not yet collected: a zombie
        time.sleep(0.05)
    assert not pid_alive(child.pid)
    assert os.waitpid(child.pid, os.WNOHANG)[0] == child.pid  # it was still there, as a zombie
    assert pid_alive(os.getpid())


def test_a_job_submitted_while_the_idle_worker_decides_to_exit_is_still_run(tmp_path, monkeypatch):
    """The worker sees an empty queue and decides to leave; the job lands right then (before it
    let go of the lock, so its submitter saw a live worker and started none)."""
    with JobStore(tmp_path) as s:
        job = s.create_job(tiny(rounds=1),
                           "f" * 64)["id"]
    real, calls = JobStore.claim_next, []

    def late_submit(self, worker_pid, device=None):
        calls.append(1)
        return None if len(calls) == 1 else real(self, worker_pid, device)
    monkeypatch.setattr(JobStore, "claim_next", late_submit)
    assert worker_module.work(tmp_path, idle_exit_seconds=0.0) == 0
    with JobStore(tmp_path) as s:
        assert s.get_job(job)["status"] == "finished"


def test_a_device_this_machine_lacks_is_refused_naming_the_allowed_ones():
    import torch

    from pruning_core.devices import resolve_device

    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match=r"device: got 'mps' .* allowed: auto, cpu"):
            resolve_device("mps")
    with pytest.raises(ValueError, match=r"device: got 'cuda:7'"):
        resolve_device("cuda:7")
    assert resolve_device("cpu").type == "cpu"


def test_an_app_job_may_read_data_only_inside_the_allowed_roots(tmp_path, monkeypatch):
    from pruning_core.config import ConfigError
    from pruning_core.datadirs import check_app_data_dir

    monkeypatch.setenv("PRUNELAB_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("PRUNELAB_DATA_ROOTS", raising=False)
    check_app_data_dir(None)
    check_app_data_dir(str(tmp_path / "data" / "cifar"))
    for escaping in (str(tmp_path / "data" / ".." / "escaped"), "/etc", str(tmp_path / "elsewhere")):
        with pytest.raises(ConfigError, match=r"dataset.data_dir: .*PRUNELAB_DATA_ROOTS"):
            check_app_data_dir(escaping)
    monkeypatch.setenv("PRUNELAB_DATA_ROOTS", str(tmp_path / "elsewhere"))
    check_app_data_dir(str(tmp_path / "elsewhere" / "mnist"))
