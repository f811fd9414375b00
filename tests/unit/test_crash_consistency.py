"""Crash consistency of a run folder (issue 8): a kill at the worst instant resumes to the
uninterrupted result, partial files are never read, unreadable files name the job and file,
progress never overshoots, a diverging loss stops the run with the round and epoch."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from pruning_core import loop
from pruning_core.errors import CorruptArtifact, Diverged
from pruning_core.events import events_to_frames
from pruning_core.jobs.store import JobStore
from pruning_core.rundir import RepeatDir
from pruning_core.runner import load_result, run


class Killed(BaseException):
    """Stands in for SIGKILL: escapes every ``except Exception`` and leaves the files as they are."""


def tiny(**algorithm) -> dict:
    """LeNet-300-100 on digits, T = 3 epochs, k = 1: a run of a few seconds."""
    return {"training": {"epochs": 3, "batch_size": 100}, "algorithm": {"rounds": 3, "rewind_epoch": 1, **algorithm}}


DETERMINISTIC = ["repeat", "round", "sparsity", "remaining_weights", "test_accuracy", "best_test_accuracy",
                 "retrain_epochs", "cumulative_epochs"]


def _masks(result) -> dict:
    files = result.run_dir.repeat(0)
    return {r: files.load_masks(r) for r in files.mask_files()}


def _same_masks(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[r].keys() == b[r].keys() and all(np.array_equal(a[r][n], b[r][n]) for n in a[r]) for r in a)


@pytest.mark.parametrize("algorithm", [
    {"treatment": "keep"},                                           # IMP+LRR: continues from θ_T of r−1
    {"treatment": "keep", "lr_policy": {"name": "ft"}},              # fine-tuning
    {"treatment": "rewind"},                                         # IMP+WR (weight stability)
], ids=["lrr", "ft", "wr"])
def test_a_kill_between_the_round_weights_and_the_commit_resumes_to_the_uninterrupted_run(
        tmp_path, monkeypatch, algorithm):
    """Round 2's masks, weights and event are written, its commit is not: the resume must
    continue from round 1's weights (the old layout overwrote ``latest.pt`` first)."""
    full = run(tiny(**algorithm), cache_dir=tmp_path / "a")
    real_commit = RepeatDir.commit

    def commit_then_die_at_round_2(self, state):
        if state["round"] == 2:
            raise Killed
        real_commit(self, state)
    monkeypatch.setattr(RepeatDir, "commit", commit_then_die_at_round_2)
    with pytest.raises(Killed):
        run(tiny(**algorithm), cache_dir=tmp_path / "b")
    monkeypatch.setattr(RepeatDir, "commit", real_commit)
    with JobStore(tmp_path / "b") as store:
        job = store.list_jobs()[0]["id"]
        files = store.run_dir(job).repeat(0)
    assert files.committed()["round"] == 1 and files.mask_file(2).exists()     # written, not committed
    resumed = run(tiny(**algorithm), cache_dir=tmp_path / "b", job_id=job, resume=True)
    assert resumed.status == "finished"
    assert resumed.rounds[DETERMINISTIC].equals(full.rounds[DETERMINISTIC])
    if "weight_stability" in full.rounds:
        assert resumed.rounds["weight_stability"].iloc[1:].tolist() == full.rounds["weight_stability"].iloc[1:].tolist()
    assert _same_masks(_masks(resumed), _masks(full))
    assert resumed.summary["status"] == "finished"
    with JobStore(tmp_path / "b") as store:
        progress = store.get_job(job)["progress"]
    assert progress["epochs_done"] == progress["epochs_total"] == full.rounds["retrain_epochs"].sum()


def test_only_the_last_committed_round_weights_are_kept(tmp_path):
    result = run(tiny(treatment="keep"), cache_dir=tmp_path)
    files = result.run_dir.repeat(0)
    kept = sorted(p.name for p in (files.folder / "weights").iterdir())
    assert kept == ["init.pt", "rewind.pt", "round_000.pt", "round_003.pt"]
    assert files.last_weights() == "round_003" and files.committed()["weights"] == "round_003"


def test_partial_files_are_never_listed_and_a_resume_removes_them(tmp_path):
    result = run(tiny(rounds=1), cache_dir=tmp_path)
    files = result.run_dir.repeat(0)
    stale = [files.folder / "masks" / "round_001.npz.tmp.npz",          # the old writer's leftover
             files.folder / "masks" / ".round_002.npz.4242.tmp",
             files.folder / "weights" / ".round_002.pt.4242.tmp"]
    for path in stale:
        path.write_bytes(b"partial")
    assert list(files.mask_files()) == [0, 1]
    assert [r for _, r, _ in result.run_dir.mask_files()] == [0, 1]
    with JobStore(tmp_path) as store:
        store.requeue(result.job_id)
    run(tiny(rounds=1), cache_dir=tmp_path, job_id=result.job_id, resume=True)
    assert not any(p.exists() for p in stale)


def test_superseded_events_do_not_reach_the_tables():
    """Round 2 and an epoch of round 3 were emitted before a kill; the resume from round 1 redid
    round 2 and stopped: round 3's stale epoch must not appear."""
    ev = lambda kind, r, **f: {"type": kind, "repeat": 0, "round": r, **f}  # noqa: E731
    events = [ev("round", 0, test_accuracy=0.9), ev("round", 1, test_accuracy=0.8), ev("epoch", 2, epoch=1),
              ev("round", 2, test_accuracy=0.1), ev("epoch", 3, epoch=1),
              {"type": "resumed", "repeat": 0, "from_round": 1},
              ev("epoch", 2, epoch=1), ev("round", 2, test_accuracy=0.7)]
    rounds, epochs = events_to_frames(events)
    assert rounds["test_accuracy"].tolist() == [0.9, 0.8, 0.7]
    assert epochs[["round", "epoch"]].values.tolist() == [[2, 1]]


# ---- unreadable files name the job and the file ------------------------------------------------

def test_a_garbled_weights_file_fails_the_resume_naming_the_file_never_weights_only(tmp_path):
    result = run(tiny(treatment="keep", rounds=2), cache_dir=tmp_path)
    files = result.run_dir.repeat(0)
    files.state_file.write_text(json.dumps({**files.committed(), "round": 1, "weights": "round_001"}))
    files.weights_file("round_001").write_bytes(b"PK\x03\x04 not a checkpoint")      # resume from a bad file
    with JobStore(tmp_path) as store:
        store.requeue(result.job_id)
    with pytest.raises(CorruptArtifact) as error:
        run(tiny(treatment="keep", rounds=2), cache_dir=tmp_path, job_id=result.job_id, resume=True)
    message = str(error.value)
    assert result.job_id in message and "round_001.pt" in message and "weights_only" not in message
    with JobStore(tmp_path) as store:
        job = store.get_job(result.job_id)
    assert job["status"] == "failed" and "round_001.pt" in job["error"]


def test_a_garbled_mask_file_and_state_file_name_the_job_and_file(tmp_path):
    result = run(tiny(rounds=1), cache_dir=tmp_path)
    files = result.run_dir.repeat(0)
    files.mask_file(1).write_bytes(b"PK\x03\x04truncated")
    with pytest.raises(CorruptArtifact, match=rf"{result.job_id}/repeat_0/masks/round_001.npz is not a readable"):
        load_result(result.job_id, cache_dir=tmp_path).masks(1)
    files.state_file.write_text("{not json")
    with pytest.raises(CorruptArtifact, match=rf"job {result.job_id}: .*state.json is unreadable"):
        files.committed()


def test_exporting_a_job_whose_run_folder_was_deleted_names_the_missing_masks(tmp_path):
    from pruning_core.export import export_result

    result = run(tiny(rounds=1), cache_dir=tmp_path)
    shutil.rmtree(result.run_dir.root)
    with pytest.raises(CorruptArtifact, match=rf"job {result.job_id}: the masks of 2 finished round\(s\) are missing"):
        export_result(load_result(result.job_id, cache_dir=tmp_path), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_failure_before_training_leaves_the_job_failed_with_the_reason(tmp_path):
    """An unreadable commit point is met while the run is being set up (before the old ``try``)."""
    result = run(tiny(rounds=1), cache_dir=tmp_path)
    result.run_dir.repeat(0).state_file.write_text("[]")
    with JobStore(tmp_path) as store:
        store.requeue(result.job_id)
    with pytest.raises(CorruptArtifact):
        run(tiny(rounds=1), cache_dir=tmp_path, job_id=result.job_id, resume=True)
    with JobStore(tmp_path) as store:
        job = store.get_job(result.job_id)
    assert job["status"] == "failed" and "state.json" in job["error"]


# ---- divergence ---------------------------------------------------------------------------------

def test_a_nan_loss_stops_the_run_naming_round_and_epoch_and_keeps_finished_rounds(tmp_path, monkeypatch):
    real = loop.train_epochs

    def diverge_in_round_2(model, data, cfg, schedule_epochs, lr_at, generator, *, callbacks, **kw):
        after_epoch = callbacks.after_epoch
        if len(list(schedule_epochs)) and generator.initial_seed() == 2:     # round 2 of seed 0
            def nan_loss(stats):
                after_epoch(type(stats)(**{**stats.__dict__, "train_loss": math.nan}))
            callbacks.after_epoch = nan_loss
        return real(model, data, cfg, schedule_epochs, lr_at, generator, callbacks=callbacks, **kw)
    monkeypatch.setattr(loop, "train_epochs", diverge_in_round_2)
    with pytest.raises(Diverged, match=r"round 2, epoch 1 \(repeat 0\): the training loss is nan"):
        run(tiny(), cache_dir=tmp_path)
    with JobStore(tmp_path) as store:
        job = store.list_jobs()[0]
    assert job["status"] == "failed" and "round 2, epoch 1" in job["error"]
    assert load_result(job["id"], cache_dir=tmp_path).rounds["round"].tolist() == [0, 1]


def test_a_huge_learning_rate_diverges_into_a_clear_error(tmp_path):
    with pytest.raises(Diverged, match=r"round 0, epoch \d+ \(repeat 0\)"):
        run({**tiny(), "training": {"epochs": 3, "batch_size": 100, "optimizer": "sgd", "lr": 1e6}},
            cache_dir=tmp_path)
