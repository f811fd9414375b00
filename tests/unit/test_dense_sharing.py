"""Shared dense training (issue 9): a job whose round 0 equals an earlier job's reuses it, and its
results are identical to training it."""

from __future__ import annotations

import numpy as np

from pruning_core.config import Config
from pruning_core.dense import dense_key, published
from pruning_core.jobs.store import JobStore
from pruning_core.runner import run

DETERMINISTIC = ["repeat", "seed", "round", "sparsity", "remaining_weights", "test_accuracy", "best_test_accuracy",
                 "retrain_epochs", "cumulative_epochs"]


def tiny(score: str = "magnitude", **algorithm) -> dict:
    return {"training": {"epochs": 3, "batch_size": 100}, "pruner": {"score": score},
            "algorithm": {"rounds": 2, "rewind_epoch": 1, **algorithm}}


def test_the_key_covers_what_round_0_depends_on_and_nothing_else():
    base = Config.from_dict(tiny())
    assert dense_key(base, 0) == dense_key(Config.from_dict(tiny("random")), 0)           # the pruner: no
    assert dense_key(base, 0) == dense_key(Config.from_dict(tiny(rate=0.5)), 0)            # the rate: no
    assert dense_key(base, 0) != dense_key(base, 1)                                          # seed + repeat
    assert dense_key(base, 1) == dense_key(Config.from_dict({**tiny(), "seed": 1}), 0)
    assert dense_key(base, 0) != dense_key(Config.from_dict(tiny(rewind_epoch=2)), 0)      # θ_k differs
    changed = tiny()
    changed["training"]["lr"] = 0.01
    assert dense_key(base, 0) != dense_key(Config.from_dict(changed), 0)
    assert dense_key(Config.from_dict({"algorithm": {"name": "gradual"}}), 0) is None     # no dense round 0


def test_a_reused_dense_round_gives_the_rounds_of_one_that_trained_it(tmp_path):
    first = run(tiny("magnitude"), cache_dir=tmp_path / "shared")
    reused = run(tiny("random"), cache_dir=tmp_path / "shared")
    alone = run(tiny("random"), cache_dir=tmp_path / "alone")
    assert reused.rounds[DETERMINISTIC].equals(alone.rounds[DETERMINISTIC])
    a, b = reused.run_dir.repeat(0), alone.run_dir.repeat(0)
    for r in b.mask_files():
        assert all(np.array_equal(a.load_masks(r)[n], m) for n, m in b.load_masks(r).items())
    with JobStore(tmp_path / "shared") as store:
        events = store.events(reused.job_id)
        key = dense_key(Config.from_dict(tiny()), 0)
        assert published(store.root, key)
    round0 = [e for e in events if e["type"] in ("epoch", "round") and e["round"] == 0]
    assert len(round0) == 4 and all(e["dense_from"] == {"job": first.job_id, "repeat": 0} for e in round0)
    assert not any("dense_from" in e for e in events if e["type"] in ("epoch", "round") and e["round"] > 0)
    assert reused.summary["status"] == "finished"
    with JobStore(tmp_path / "shared") as store:
        progress = store.get_job(reused.job_id)["progress"]
    assert progress["epochs_done"] == progress["epochs_total"]


def test_sharing_can_be_turned_off(tmp_path):
    run(tiny("magnitude"), cache_dir=tmp_path)
    second = run(tiny("random"), cache_dir=tmp_path, share_dense=False)
    with JobStore(tmp_path) as store:
        assert not any("dense_from" in e for e in store.events(second.job_id))
