"""Lockstep peers of a sweep trained together (issue 11): the jobs of one sweep whose rounds train
alike (same model, data, training recipe and round schedule; seeds, pruners, rates may differ) are
claimed together by the worker where seed batching pays, trained as one batched model, and end one
by one — a cancelled or failing job ends alone while the others go on, and nothing is written for
it afterwards.

Expectations are those of the one-by-one sweep: sparsities exactly, accuracies to one test image of
the 360 digits (float summation order differs in the batched products; see test_seed_batching.py).
"""

from __future__ import annotations

import pytest

from pruning_core.config import Config
from pruning_core.jobs.peers import are_peers
from pruning_core.lockstep import lockstep_key
from pruning_core.jobs.store import JobStore
from pruning_core.runner import load_result, run_claimed
from pruning_core.sweeps import Axis, expand, queue_sweep

TINY = {"training": {"epochs": 2, "batch_size": 100}, "algorithm": {"rounds": 2, "rewind_epoch": 1}}
ONE_IMAGE = 1 / 360 + 1e-9


def queued(root, axes, base=TINY, executor="local") -> dict:
    return queue_sweep(expand(base, [Axis(field, tuple(values)) for field, values in axes.items()]), root,
                       origin="test", executor=executor)


def serve_all(store: JobStore, sink_for=lambda record: None) -> list[list[str]]:
    """Claim and run every queued job as the worker does; the job ids each claim ran."""
    batches = []
    while (record := store.claim_next(worker_pid=1)) is not None:
        before = {j["id"] for j in store.list_jobs() if j["status"] == "queued"}
        run_claimed(store, record, sink_for)
        after = {j["id"] for j in store.list_jobs() if j["status"] == "queued"}
        batches.append([record["id"], *sorted(before - after)])
    return batches


def rounds_of(root, job: str):
    frame = load_result(job, cache_dir=root).rounds
    return frame.sort_values(["repeat", "round"]).reset_index(drop=True)


# ---- who is a peer --------------------------------------------------------------------------------

def test_the_lockstep_key_ignores_what_a_round_does_around_its_training():
    base = {"training": {"epochs": 3}, "algorithm": {"rounds": 2, "rewind_epoch": 1}}

    def key(**changes):
        config = {**base, **{k: v for k, v in changes.items() if k != "algorithm"}}
        config["algorithm"] = {**base["algorithm"], **changes.get("algorithm", {})}
        return lockstep_key(Config.from_dict(config))
    same = {key(), key(seed=3), key(algorithm={"rate": 0.5}), key(pruner={"score": "random"}),
            key(algorithm={"treatment": "keep"})}
    assert len(same) == 1
    different = [key(training={"epochs": 3, "lr": 0.1}), key(algorithm={"rounds": 3}),
                 key(algorithm={"lr_policy": {"name": "allr"}}), key(model={"name": "conv2"}), key(device="cpu")]
    assert len({*same, *different}) == 1 + len(different)
    assert lockstep_key(Config.from_dict({"algorithm": {"name": "gradual"}})) is None   # trains inside its round


def test_peers_are_jobs_of_one_sweep_with_one_lockstep_key():
    a = {"sweep": "s1", "plugins": [], "lockstep_key": "k", "config": {"seed": 0}}
    assert are_peers(a, {**a, "config": {"seed": 7, "pruner": {"score": "random"}}})
    assert not are_peers(a, {**a, "lockstep_key": "other"})
    assert not are_peers(a, {**a, "sweep": "s2"})                            # another sweep
    assert not are_peers({**a, "sweep": None}, {**a, "sweep": None})         # not a sweep's jobs
    assert not are_peers(a, {**a, "plugins": ["mine.py"]})                   # other plug-in code
    assert not are_peers({**a, "lockstep_key": None}, {**a, "lockstep_key": None})   # no lockstep at all


def test_the_store_lists_the_ready_peers_only(tmp_path):
    """Score × seed: once (magnitude, 0) is claimed, (random, 0) waits for its dense round 0, so
    the ready peers are the seed-1 and seed-2 jobs of both scores, oldest first; another sweep's
    job with the same config is never one; a claimed or cancelled job is no longer listed."""
    sweep = queued(tmp_path, {"pruner.score": ["magnitude", "random"], "seed": [0, 1, 2]})
    other = queued(tmp_path, {"seed": [5]})
    with JobStore(tmp_path) as store:
        jobs = {tuple(store.get_job(j)["axes"].values()): j for j in sweep["jobs"]}
        first = store.claim_next(worker_pid=1)
        assert first["id"] == jobs[("magnitude", 0)] and first["lockstep_key"] is not None
        want = [jobs[k] for k in (("magnitude", 1), ("magnitude", 2), ("random", 1), ("random", 2))]
        assert [p["id"] for p in store.peers(first)] == want
        assert other["jobs"][0] not in [p["id"] for p in store.peers(first)]
        assert store.claim(want[0], worker_pid=1)["status"] == "running"     # (magnitude, 1) runs:
        store.request_cancel(want[1])                                        # (random, 1) now waits
        assert [p["id"] for p in store.peers(first)] == [jobs[("random", 2)]]


# ---- trained together, equal to one by one --------------------------------------------------------

def test_a_grid_trains_together_and_equals_the_one_by_one_grid(tmp_path, monkeypatch):
    """Score × rate × seed (8 jobs, round 0 shared per seed as usual), batching off (one claim per
    job) and on: the same rounds for every job. With batching on, the first claim takes the first
    job and the one peer whose round 0 is not the same as its own (the other seed-1 jobs would train
    that round again); once both have published their round 0, the next claim takes all six left."""
    results, axes = {}, {"pruner.score": ["magnitude", "random"], "algorithm.rate": [0.2, 0.5], "seed": [0, 1]}
    for setting in ("off", "on"):
        monkeypatch.setenv("PRUNELAB_SEED_BATCHING", setting)
        root = tmp_path / setting
        sweep = queued(root, axes)
        jobs = sweep["jobs"]
        with JobStore(root) as store:
            batches = serve_all(store)
            assert [store.get_job(j)["status"] for j in jobs] == ["finished"] * 8
            started = [e["seeds_together"] for j in jobs for e in store.events(j) if e["type"] == "run_started"]
            values = [tuple(store.get_job(j)["axes"].values()) for j in jobs]
            partners = {j: e.get("trained_with") for j in jobs for e in store.events(j) if e["type"] == "run_started"}
        if setting == "off":
            assert batches == [[j] for j in jobs] and started == [False] * 8
            assert set(partners.values()) == {None}
        else:
            assert partners[jobs[0]] == [jobs[1]] and partners[jobs[1]] == [jobs[0]]
            assert sorted(partners[jobs[2]]) == sorted(jobs[3:])
            assert values[:2] == [("magnitude", 0.2, 0), ("magnitude", 0.2, 1)]
            assert batches == [jobs[:2], [jobs[2], *sorted(jobs[3:])]] and started == [True] * 8
        results[setting] = {v: rounds_of(root, j) for v, j in zip(values, jobs)}
    for member, off in results["off"].items():
        on = results["on"][member]
        assert list(on["round"]) == [0, 1, 2] and list(on["seed"]) == list(off["seed"])
        assert list(on["remaining_weights"]) == list(off["remaining_weights"]), member
        assert (on["test_accuracy"] - off["test_accuracy"]).abs().max() <= ONE_IMAGE, member
    assert len({tuple(r["remaining_weights"]) for r in results["on"].values()}) == 2      # the two rates
    masks = {v: load_result(j, cache_dir=tmp_path / "on").masks(1) for v, j in zip(values, jobs) if v[1:] == (0.2, 0)}
    assert any(not (masks[("magnitude", 0.2, 0)][k] == masks[("random", 0.2, 0)][k]).all()
               for k in masks[("magnitude", 0.2, 0)])                                    # the two scores


def test_at_most_max_seeds_together_are_claimed(tmp_path, monkeypatch):
    from pruning_core.batched import policy
    monkeypatch.setenv("PRUNELAB_SEED_BATCHING", "on")
    monkeypatch.setattr(policy, "MAX_SEEDS_TOGETHER", 2)
    base = {"training": {"epochs": 1, "batch_size": 200}, "algorithm": {"rounds": 1, "rewind_epoch": 0}}
    sweep = queued(tmp_path, {"seed": [0, 1, 2]}, base=base)
    with JobStore(tmp_path) as store:
        assert serve_all(store) == [sweep["jobs"][:2], sweep["jobs"][2:]]


def test_jobs_that_train_differently_are_not_peers(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNELAB_SEED_BATCHING", "on")
    base = {"training": {"epochs": 1, "batch_size": 200}, "algorithm": {"rounds": 1, "rewind_epoch": 0}}
    sweep = queued(tmp_path, {"training.lr": [0.001, 0.002]}, base=base)
    with JobStore(tmp_path) as store:
        assert serve_all(store) == [[j] for j in sweep["jobs"]]


# ---- each job ends on its own ------------------------------------------------------------------------

def _trip_on(job: str, round_index: int, action):
    """A sink for ``job`` that calls ``action()`` on its first epoch event of ``round_index``."""
    fired = []

    def sink(event):
        if event["type"] == "epoch" and event["round"] == round_index and not fired:
            fired.append(True)
            action()
    return lambda record: sink if record["id"] == job else None


def test_cancelling_one_peer_ends_it_alone_and_resuming_it_loses_nothing(tmp_path, monkeypatch):
    """Seed 1 is cancelled after its round 1 (the stop is seen at the first step of round 2): it
    ends ``cancelled`` with rounds 0 and 1 kept and nothing of round 2 written; seeds 0 and 2 finish every round, equal to the sweep run one by one; seed 1
    resumed alone then equals its one-by-one run as well."""
    from pruning_core import job_session
    monkeypatch.setattr(job_session, "HEARTBEAT_SECONDS", 0.0)     # poll the store at every step
    monkeypatch.setenv("PRUNELAB_SHARE_DENSE", "0")
    monkeypatch.setenv("PRUNELAB_SEED_BATCHING", "off")
    reference = queued(tmp_path / "ref", {"seed": [0, 1, 2]})
    with JobStore(tmp_path / "ref") as store:
        serve_all(store)
    monkeypatch.setenv("PRUNELAB_SEED_BATCHING", "on")
    sweep = queued(tmp_path / "on", {"seed": [0, 1, 2]})
    victim = sweep["jobs"][1]
    with JobStore(tmp_path / "on") as store:
        assert serve_all(store, _trip_on(victim, 1, lambda: store.request_cancel(victim))) == [sweep["jobs"]]
        states = {j: store.get_job(j)["status"] for j in sweep["jobs"]}
        events = store.events(victim)
        assert states == {sweep["jobs"][0]: "finished", victim: "cancelled", sweep["jobs"][2]: "finished"}
        assert events[-1]["type"] == "run_cancelled"                       # nothing after its end
        assert [e["round"] for e in events if e["type"] == "round"] == [0, 1]
        files = store.run_dir(victim).repeat(0)
        assert files.committed()["round"] == 1 and list(files.mask_files()) == [0, 1]
        for mine, ref in zip(sweep["jobs"][::2], reference["jobs"][::2]):
            a, b = rounds_of(tmp_path / "on", mine), rounds_of(tmp_path / "ref", ref)
            assert list(a["remaining_weights"]) == list(b["remaining_weights"])
            assert (a["test_accuracy"] - b["test_accuracy"]).abs().max() <= ONE_IMAGE
        store.requeue(victim)
        assert serve_all(store) == [[victim]]
        assert store.get_job(victim)["status"] == "finished"
    a, b = rounds_of(tmp_path / "on", victim), rounds_of(tmp_path / "ref", reference["jobs"][1])
    assert list(a["round"]) == [0, 1, 2] and list(a["remaining_weights"]) == list(b["remaining_weights"])
    assert (a["test_accuracy"] - b["test_accuracy"]).abs().max() <= ONE_IMAGE


def test_a_peer_that_fails_in_its_own_step_fails_alone(tmp_path, monkeypatch):
    """An exception while recording one job's epoch (here its event callback) fails that job, with
    the reason; the other peers finish."""
    monkeypatch.setenv("PRUNELAB_SEED_BATCHING", "on")

    def boom():
        raise RuntimeError("the sink of seed 0 broke")
    sweep = queued(tmp_path, {"seed": [0, 1]})
    with JobStore(tmp_path) as store:
        serve_all(store, _trip_on(sweep["jobs"][0], 1, boom))
        failed, fine = (store.get_job(j) for j in sweep["jobs"])
        assert failed["status"] == "failed" and failed["error"] == "RuntimeError: the sink of seed 0 broke"
        assert "boom" in failed["traceback"]
        assert fine["status"] == "finished"
        assert [e["round"] for e in store.events(fine["id"]) if e["type"] == "round"] == [0, 1, 2]


def test_a_failure_of_the_shared_training_fails_every_peer(tmp_path, monkeypatch):
    from pruning_core.batched import group
    monkeypatch.setenv("PRUNELAB_SEED_BATCHING", "on")

    def broken(*args, **kwargs):
        raise MemoryError("out of device memory")
    monkeypatch.setattr(group, "train_stacked", broken)
    sweep = queued(tmp_path, {"seed": [0, 1]})
    with JobStore(tmp_path) as store:
        record = store.claim_next(worker_pid=1)
        with pytest.raises(MemoryError):
            run_claimed(store, record, lambda r: None)
        for job in sweep["jobs"]:
            assert store.get_job(job)["status"] == "failed"
            assert store.get_job(job)["error"] == "MemoryError: out of device memory"


def test_a_round_trained_job_by_job_still_ends_a_cancelled_peer_at_once(tmp_path, monkeypatch):
    """ALLR's d differs between the seeds, so round 1 is trained one job after the other. A Stop
    of seed 1 after seed 0's first epoch of round 1 ends seed 1 during seed 0's second epoch (its
    ``run_cancelled`` comes before that epoch's event), not when its own turn comes; seed 0 finishes."""
    from pruning_core import job_session
    from pruning_core.loop import RepeatRun
    monkeypatch.setattr(job_session, "HEARTBEAT_SECONDS", 0.0)
    monkeypatch.setenv("PRUNELAB_SEED_BATCHING", "on")
    alone = []
    train = RepeatRun.train
    monkeypatch.setattr(RepeatRun, "train", lambda self, step, should_stop=None: alone.append(
        (self.seed, step.index)) or train(self, step, should_stop))
    base = {"training": {"epochs": 4, "batch_size": 100},       # d₂ = 2/4 < d₁ (about 0.78): d differs
            "algorithm": {"rounds": 1, "rate": 0.9, "rewind_epoch": 2, "lr_policy": {"name": "allr"}}}
    sweep = queued(tmp_path, {"seed": [0, 1]}, base=base)
    first, victim = sweep["jobs"]
    with JobStore(tmp_path) as store:
        serve_all(store, _trip_on(first, 1, lambda: store.request_cancel(victim)))
        assert (0, 1) in alone                                             # round 1: job by job
        assert [store.get_job(j)["status"] for j in sweep["jobs"]] == ["finished", "cancelled"]
        cancelled_at = [e["time"] for e in store.events(victim) if e["type"] == "run_cancelled"]
        last_epoch_at = [e["time"] for e in store.events(first) if e["type"] == "epoch" and e["round"] == 1]
        assert len(last_epoch_at) == 2 and cancelled_at[0] < last_epoch_at[-1]
        assert not [e for e in store.events(victim) if e["type"] == "epoch" and e["round"] == 1]


def test_where_batching_never_pays_the_worker_does_not_look_for_peers(tmp_path, monkeypatch):
    """On this CPU (the stored figure says no for every N) a sweep's job runs alone, and the queue
    is not even scanned for its peers."""
    from pruning_core.batched.policy import may_pay
    monkeypatch.delenv("PRUNELAB_SEED_BATCHING", raising=False)
    assert not may_pay("cpu", "lenet300_100") and may_pay("cuda", "lenet300_100")
    assert not may_pay("cuda", "resnet20")                                  # batch norm: never batched
    monkeypatch.setenv("PRUNELAB_SEED_BATCHING", "on")
    assert may_pay("cpu", "lenet300_100")
    monkeypatch.delenv("PRUNELAB_SEED_BATCHING")
    base = {"training": {"epochs": 1, "batch_size": 200}, "algorithm": {"rounds": 1, "rewind_epoch": 0}}
    sweep = queued(tmp_path, {"seed": [0, 1]}, base=base)
    monkeypatch.setattr(JobStore, "peers", lambda self, record: pytest.fail("looked for peers"))
    with JobStore(tmp_path) as store:
        assert serve_all(store) == [[j] for j in sweep["jobs"]]


def test_a_peer_whose_config_no_longer_matches_its_stored_key_is_not_taken(tmp_path, monkeypatch):
    """The runner recomputes a candidate's lockstep key with the code that runs: a record whose
    stored key claims lockstep (here forged) but whose training differs is left in the queue."""
    monkeypatch.setenv("PRUNELAB_SEED_BATCHING", "on")
    base = {"training": {"epochs": 1, "batch_size": 200}, "algorithm": {"rounds": 1, "rewind_epoch": 0}}
    sweep = queued(tmp_path, {"training.lr": [0.001, 0.002]}, base=base)
    with JobStore(tmp_path) as store:
        forged = store.get_job(sweep["jobs"][0])["lockstep_key"]
        store.update_job(sweep["jobs"][1], lockstep_key=forged)
        first = store.claim_next(worker_pid=1)
        assert [p["id"] for p in store.peers(first)] == [sweep["jobs"][1]]    # listed by its stored key
        run_claimed(store, first, lambda record: None)
        assert store.get_job(sweep["jobs"][1])["status"] == "queued"           # … but not taken
