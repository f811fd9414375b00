"""Sweeps (issue 9): axes, expansion, validation before queueing, the store's sweep records, the
tables, the scheduler's slots and claim order, and the CLI end to end."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pruning_core.config import ConfigError
from pruning_core.jobs.slots import default_cpu_slots, slot_environments
from pruning_core.jobs.store import JobStore
from pruning_core.sweeps import Axis, expand, parse_axis, queue_sweep, sweep_rounds, sweep_summary
from pruning_core.sweeps.grid import split_values

TINY = {"training": {"epochs": 2, "batch_size": 100}, "algorithm": {"rounds": 2, "rewind_epoch": 1}}


# ---- axes and grids -----------------------------------------------------------------------------

def test_axis_values_are_json_where_possible_and_split_outside_brackets():
    assert split_values('a, [1, 2],{"x": 1, "y": 2}, "c,d"') == ["a", "[1, 2]", '{"x": 1, "y": 2}', '"c,d"']
    assert parse_axis("algorithm.partial_epochs=null,3,5") == Axis("algorithm.partial_epochs", (None, 3, 5))
    assert parse_axis("pruner.score=magnitude,random").values == ("magnitude", "random")
    assert parse_axis("training.milestones=[1,2],[3]").values == ([1, 2], [3])
    for bad in ("seed", "=1,2", "seed=", "seed=1,,2"):
        with pytest.raises(ConfigError):
            parse_axis(bad)


def test_axes_multiply_or_zip_in_order():
    grid = expand(TINY, [parse_axis("pruner.score=magnitude,random"), parse_axis("seed=0,1,2")])
    assert [tuple(m.values.values()) for m in grid.members] == [
        ("magnitude", 0), ("magnitude", 1), ("magnitude", 2), ("random", 0), ("random", 1), ("random", 2)]
    assert grid.members[4].config.pruner.score.plugin_name == "random" and grid.members[4].config.seed == 1
    zipped = expand(TINY, [parse_axis("pruner.score=magnitude,random"), parse_axis("seed=3,4")], zipped=True)
    assert [tuple(m.values.values()) for m in zipped.members] == [("magnitude", 3), ("random", 4)]
    # 2 jobs, each: 2 dense epochs + 2 rounds × (2 − 1) retraining epochs; the search cost counts the retraining
    assert zipped.total_epochs() == 2 * (2 + 2) and zipped.search_cost() == 2 * 2


def test_malformed_axes_are_refused_before_expansion():
    with pytest.raises(ConfigError, match="algorithm.nonsense: got \\[1, 2\\]; allowed: a field of the config"):
        expand(TINY, [parse_axis("algorithm.nonsense=1,2")])
    with pytest.raises(ConfigError, match="each field on one axis only"):
        expand(TINY, [parse_axis("seed=1"), parse_axis("seed=2")])
    with pytest.raises(ConfigError, match="zipped axes with the same number of values"):
        expand(TINY, [parse_axis("seed=1,2"), parse_axis("algorithm.rate=0.2")], zipped=True)


def test_invalid_combinations_and_duplicates_are_reported_with_their_values_and_nothing_is_queued(tmp_path):
    grid = expand(TINY, [parse_axis("training.epochs=0,2"), parse_axis("seed=0,0")])
    assert len(grid.members) == 1 and grid.size == 4
    reasons = {json.dumps(v, sort_keys=True): r for v, r in grid.invalid}
    assert "training.epochs: got 0" in reasons['{"seed": 0, "training.epochs": 0}']
    assert reasons['{"seed": 0, "training.epochs": 2}'] == "the same experiment as training.epochs=2, seed=0"
    with pytest.raises(ConfigError, match=r"sweep: got 'training.epochs=0, seed=0'"):
        queue_sweep(grid, tmp_path)
    with JobStore(tmp_path) as store:
        assert store.list_jobs() == [] and store.list_sweeps() == []


def test_a_grid_over_a_thousand_jobs_needs_confirmation(monkeypatch):
    from pruning_core.sweeps import grid as grid_module

    monkeypatch.setattr(grid_module, "MAX_JOBS_WITHOUT_CONFIRMATION", 3)
    grid = expand(TINY, [parse_axis("seed=0,1,2,3")])
    with pytest.raises(ConfigError, match="at most 3 jobs without confirmation"):
        grid.check()
    grid.check(confirmed=True)


# ---- the store ----------------------------------------------------------------------------------

def test_a_sweep_is_queued_whole_with_its_axis_values_and_dense_keys(tmp_path):
    grid = expand(TINY, [parse_axis("pruner.score=magnitude,random"), parse_axis("seed=0,1")])
    sweep = queue_sweep(grid, tmp_path, name="what-if")
    with JobStore(tmp_path) as store:
        jobs = [store.get_job(j) for j in sweep["jobs"]]
        assert store.get_sweep(sweep["id"])["axes"] == [{"field": "pruner.score", "values": ["magnitude", "random"]},
                                                        {"field": "seed", "values": [0, 1]}]
        assert [s["id"] for s in store.list_sweeps()] == [sweep["id"]]
    assert [j["axes"] for j in jobs] == [m.values for m in grid.members]
    assert all(j["status"] == "queued" and j["sweep"] == sweep["id"] for j in jobs)
    assert jobs[0]["name"] == "what-if · score=magnitude, seed=0"
    # magnitude and random at one seed share round 0; the two seeds do not
    assert jobs[0]["dense_keys"] == jobs[2]["dense_keys"] != jobs[1]["dense_keys"]


def test_a_job_waits_while_another_trains_its_dense_round(tmp_path):
    with JobStore(tmp_path) as store:
        a = store.create_job({}, "a" * 64, dense_keys=["k1"])["id"]
        b = store.create_job({}, "b" * 64, dense_keys=["k1"])["id"]
        c = store.create_job({}, "c" * 64, dense_keys=["k2"])["id"]
        assert store.claim_next(worker_pid=1)["id"] == a
        assert store.claim_next(worker_pid=1)["id"] == c          # b waits for k1
        assert store.claim_next(worker_pid=1) is None and store.has_queued()
        (store.root / "dense" / "k1").mkdir(parents=True)
        (store.root / "dense" / "k1" / "source.json").write_text("{}")
        assert store.claim_next(worker_pid=1)["id"] == b          # published: b may reuse it


# ---- tables -------------------------------------------------------------------------------------

class FakeStore:
    """Records and events of three finished jobs: score × seed, two rounds each."""

    def __init__(self):
        acc = {("magnitude", 0): [0.9, 0.8], ("magnitude", 1): [0.7, 0.6], ("random", 0): [0.9, 0.5]}
        self.records, self.event_lists = {}, {}
        for n, ((score, seed), accs) in enumerate(acc.items()):
            job = f"job{n}"
            self.records[job] = {"id": job, "status": "finished", "axes": {"pruner.score": score, "seed": seed}}
            self.event_lists[job] = [{"type": "round", "repeat": 0, "seed": seed, "round": r, "sparsity": r * 0.5,
                                      "remaining_fraction": 1 - r * 0.5, "remaining_weights": 10 - 5 * r,
                                      "test_accuracy": a, "best_test_accuracy": a, "retrain_epochs": 2,
                                      "cumulative_epochs": 2 * r, "seconds": 1.0} for r, a in enumerate(accs)]

    def get_job(self, job):
        return self.records[job]

    def events(self, job):
        return self.event_lists[job]


SWEEP = {"axes": [{"field": "pruner.score", "values": ["magnitude", "random"]}, {"field": "seed", "values": [0, 1]}],
         "jobs": ["job0", "job1", "job2", "missing"]}


def test_the_sweep_table_has_one_row_per_job_and_round_with_the_axes_first():
    rounds = sweep_rounds(FakeStore(), SWEEP)
    assert list(rounds.columns[:6]) == ["pruner.score", "seed", "job", "status", "repeat", "round"]
    assert rounds[["pruner.score", "seed", "round", "test_accuracy"]].values.tolist() == [
        ["magnitude", 0, 0, 0.9], ["magnitude", 0, 1, 0.8], ["magnitude", 1, 0, 0.7], ["magnitude", 1, 1, 0.6],
        ["random", 0, 0, 0.9], ["random", 0, 1, 0.5]]


def test_the_summary_gives_median_min_max_over_seeds_per_combination_and_round():
    summary = sweep_summary(sweep_rounds(FakeStore(), SWEEP), SWEEP)
    expected = pd.DataFrame({"pruner.score": ["magnitude", "magnitude", "random", "random"], "round": [0, 1, 0, 1],
                             "test_accuracy_median": [0.8, 0.7, 0.9, 0.5], "test_accuracy_min": [0.7, 0.6, 0.9, 0.5],
                             "test_accuracy_max": [0.9, 0.8, 0.9, 0.5], "runs": [2, 2, 1, 1],
                             "remaining_fraction_median": [1.0, 0.5, 1.0, 0.5], "search_cost": [0, 2, 0, 2],
                             "final": [False, True, False, True]})
    pd.testing.assert_frame_equal(summary, expected, check_dtype=False)


# ---- slots --------------------------------------------------------------------------------------

def test_slots_get_a_gpu_each_or_an_equal_share_of_the_cores(monkeypatch):
    monkeypatch.delenv("PRUNELAB_SLOTS", raising=False)
    assert slot_environments(None, cores=16, gpus=4) == [
        {"CUDA_VISIBLE_DEVICES": str(i), "OMP_NUM_THREADS": "4"} for i in range(4)]
    assert slot_environments(3, cores=2, gpus=0) == [{"OMP_NUM_THREADS": "1"}] * 3
    assert slot_environments(None, cores=2, gpus=0) == [{"OMP_NUM_THREADS": "1"}] * 2
    assert default_cpu_slots(32) == 8
    monkeypatch.setenv("PRUNELAB_SLOTS", "3")
    assert default_cpu_slots(2) == 3


# ---- end to end -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_cli_runs_a_sweep_on_two_slots_and_writes_its_tables(tmp_path, capsys):
    from pruning_core.__main__ import main
    from pruning_core.runner import load_result, run

    base = tmp_path / "base.json"
    base.write_text(json.dumps(TINY))
    code = main(["--cache", str(tmp_path / "cache"), "sweep", "--config", str(base), "--axis",
                 "pruner.score=magnitude,random", "--axis", "seed=0,1", "--slots", "2", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "sweep of 4 jobs (2 × 2)" in out and out.count("  finished ") == 4
    table = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert len(table) == 4 * 3 and set(table["status"]) == {"finished"}
    assert len(pd.read_csv(tmp_path / "out" / "sweep_summary.csv")) == 2 * 3
    with JobStore(tmp_path / "cache") as store:
        sweep = store.list_sweeps()[0]
        pids = {store.get_job(j)["worker_pid"] for j in sweep["jobs"]}
        reused = [j for j in sweep["jobs"] if any("dense_from" in e for e in store.events(j))]
    assert len(pids) == 2                                        # two slot processes served the queue
    assert len(reused) == 2                                      # one job per seed reused round 0
    alone = run({**TINY, "pruner": {"score": "random"}, "seed": 1}, cache_dir=tmp_path / "alone")
    mine = [j for j in sweep["jobs"] if j in reused][-1]
    columns = ["round", "remaining_weights", "test_accuracy"]
    assert load_result(mine, cache_dir=tmp_path / "cache").rounds[columns].equals(alone.rounds[columns])


@pytest.mark.slow
def test_the_python_api_returns_the_sweep_table(tmp_path):
    import pruning_core as pc

    table = pc.sweep(TINY, {"pruner.score": ["magnitude", "random"]}, cache_dir=tmp_path, slots=1)
    assert table.groupby("pruner.score")["round"].apply(list).to_dict() == {"magnitude": [0, 1, 2],
                                                                           "random": [0, 1, 2]}
    assert set(table["status"]) == {"finished"}


def test_an_address_without_the_ray_executor_is_refused():
    from pruning_core.sweeps.execute import check_executor

    with pytest.raises(ValueError, match="address: got 'ray://head:10001', which only the ray executor uses"):
        check_executor("local", "ray://head:10001")
