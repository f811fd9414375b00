"""Managing jobs (issue 12): delete (a running job is cancelled first and removed once it stops;
a deleted job never reappears), labels (name, tags, note) and the list filter, the store's size
and ``gc`` of orphaned run folders, from the store and from the CLI."""

from __future__ import annotations

import os
import time

import pytest

from pruning_core.__main__ import main
from pruning_core.config.fields import ConfigError
from pruning_core.jobs.housekeeping import collect, folder_size, human_size
from pruning_core.jobs.labels import label_fields, matches
from pruning_core.jobs.store import JobStore
from pruning_core.sweeps import Axis, expand, queue_sweep

TINY = {"training": {"epochs": 2}, "algorithm": {"rounds": 1, "rewind_epoch": 1}}


def job_with_files(store: JobStore, status: str = "finished") -> str:
    job = store.create_job({"x": 1}, "abcdef0123", status=status)["id"]
    store.append_event(job, {"type": "run_started"})
    store.append_event(job, {"type": "round", "round": 0})
    (store.run_dir(job).root / "weights").mkdir()
    (store.run_dir(job).root / "weights" / "round_0.pt").write_bytes(b"0" * 100)
    return job


def test_deleting_a_stopped_job_removes_record_events_and_folder(tmp_path):
    store = JobStore(tmp_path)
    keep, gone = job_with_files(store), job_with_files(store)
    assert store.delete_job(gone) == "deleted"
    assert [j["id"] for j in store.list_jobs()] == [keep] and store.job_ids() == [keep]
    assert store.event_count(gone) == 0 and not store.run_dir(gone).root.exists()
    assert store.event_count(keep) == 2 and store.run_dir(keep).root.exists()
    with pytest.raises(KeyError, match="no job"):
        store.get_job(gone)
    with pytest.raises(KeyError, match="no job"):
        store.delete_job(gone)


def test_a_deleted_queued_job_is_never_claimed(tmp_path):
    store = JobStore(tmp_path)
    job = store.create_job({"x": 1}, "abcdef0123", status="queued")["id"]
    assert store.delete_job(job) == "deleted"
    assert store.claim_next(worker_pid=1) is None and not store.has_queued()


def test_a_running_job_is_cancelled_hidden_and_removed_once_it_stops(tmp_path):
    store = JobStore(tmp_path)
    job = job_with_files(store, status="queued")
    store.claim(job, worker_pid=os.getpid())                      # alive, fresh heartbeat
    assert store.delete_job(job) == "pending"
    record = store.get_job(job)
    assert record["cancel_requested"] and record["delete_requested"] and record["status"] == "running"
    assert store.list_jobs() == [] and store.job_ids() == [job]    # hidden from every listing at once
    assert store.purge_deleted() == []                            # still running: its worker writes on
    assert store.heartbeat(job)                                   # the worker is told to stop
    store.update_job(job, status="cancelled", finished=time.time())
    assert store.purge_deleted() == [job]
    assert store.job_ids() == [] and not store.run_dir(job).root.exists() and store.event_count(job) == 0


def test_deleting_sweep_jobs_shrinks_the_sweep_and_the_last_takes_it(tmp_path):
    sweep = queue_sweep(expand(TINY, [Axis("seed", (0, 1))]), tmp_path, origin="test")
    store = JobStore(tmp_path)
    first, second = sweep["jobs"]
    store.delete_job(first)
    assert store.get_sweep(sweep["id"])["jobs"] == [second]
    store.delete_job(second)
    assert store.list_sweeps() == []


def test_labels_are_checked_and_the_filter_finds_them():
    assert label_fields(name=" run A ", tags=["a", " b", "a", ""], note="n") == \
        {"name": "run A", "tags": ["a", "b"], "note": "n"}
    assert label_fields() == {}
    for bad in ({"name": " "}, {"tags": ["x,y"]}, {"tags": ["t" * 41]}, {"tags": [str(i) for i in range(21)]},
                {"note": "n" * 5001}):
        with pytest.raises(ConfigError) as info:
            label_fields(**bad)
        assert info.value.errors[0].field == next(iter(bad)), bad
    record = {"id": "20261203-x", "name": "LeNet baseline", "note": "lr 0.1", "tags": ["base", "lenet"]}
    assert matches(record, ["base"]) and matches(record, ["base", "lenet"], "LR 0.1")
    assert not matches(record, ["other"]) and not matches(record, [], "resnet")
    assert matches({"id": "j", "tags": None}, [], "")


def test_gc_removes_orphans_and_touches_nothing_while_a_record_is_unreadable(tmp_path):
    store = JobStore(tmp_path)
    keep = job_with_files(store)
    orphan = store.runs / "20260101-000000-deadbeef"
    (orphan / "weights").mkdir(parents=True)
    (orphan / "weights" / "round_0.pt").write_bytes(b"1" * 1000)
    dry = collect(store, dry_run=True)
    assert dry.orphans == [orphan] and dry.freed == 1000 and orphan.exists()
    done = collect(store)
    assert done.orphans == [orphan] and not orphan.exists() and store.run_dir(keep).root.exists()
    orphan.mkdir()
    store._jobs._sql("INSERT INTO Cache (key, raw, store_time, expire_time, access_time, access_count, tag, "
                     "size, mode, filename, value) VALUES (?, 1, 0, NULL, 0, 0, NULL, 0, 1, NULL, ?)",
                     (b"\x80garbage", b"x"))
    refused = collect(store)
    assert refused.refused and "cannot be read" in refused.refused and orphan.exists()
    assert folder_size(store.runs) >= 100 and human_size(1_400_000_000) == "1.4 GB" and human_size(12) == "12 B"


def test_cli_rm_label_list_and_gc(tmp_path, capsys):
    store = JobStore(tmp_path)
    a, b = job_with_files(store), job_with_files(store)
    store.update_job(a, config={"model": {"name": "lenet300"}, "dataset": {"name": "digits"},
                                "algorithm": {"name": "imp"}})
    cache = ["--cache", str(tmp_path)]
    assert main([*cache, "rm", b]) == 1                      # nobody at the terminal to say yes
    assert "not confirmed" in capsys.readouterr().err and b in store.job_ids()
    assert main([*cache, "rm", b, "nosuchjob", "--yes"]) == 1
    assert "no job nosuchjob" in capsys.readouterr().err and b in store.job_ids()
    assert main([*cache, "rm", b, "--yes"]) == 0 and store.job_ids() == [a]
    assert main([*cache, "label", a, "--name", "baseline", "--tag", "base", "--tag", "lenet", "--note", "hi"]) == 0
    assert store.get_job(a)["tags"] == ["base", "lenet"] and store.get_job(a)["name"] == "baseline"
    assert main([*cache, "label", a, "--untag", "lenet"]) == 0 and store.get_job(a)["tags"] == ["base"]
    assert main([*cache, "label", a, "--tag", "a,b"]) == 2                # a field error, as for configs
    assert "tags" in capsys.readouterr().err
    capsys.readouterr()
    assert main([*cache, "list", "--tag", "base"]) == 0 and a in capsys.readouterr().out
    assert main([*cache, "list", "--tag", "nope"]) == 0 and capsys.readouterr().out.strip() == "no jobs"
    (store.runs / "orphan").mkdir()
    assert main([*cache, "gc"]) == 0
    assert "removed orphaned run folder" in capsys.readouterr().out and not (store.runs / "orphan").exists()
