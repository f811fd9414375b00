"""The analyses on real (tiny) runs: LeNet-300-100 on digits, T = 2, k = 0, 2 rounds, two pruners
with the same seed; the mask-dynamics hook wired the way the lead wires it; the analyze CLI."""

import argparse
import json
import shutil

import numpy as np
import pytest
import torch

import pruning_core.loop as loop
from pruning_core import run
from pruning_core.analysis.cli import add_analysis_commands
from pruning_core.analysis.compression import compression_table
from pruning_core.analysis.connectivity import effective_report
from pruning_core.analysis.dynamics import dynamics_hook
from pruning_core.analysis.ensemble import ensemble_jobs, load_member
from pruning_core.analysis.similarity import SeedMismatch, jaccard_between_jobs
from pruning_core.analysis.stability import weight_stability
from pruning_core.jobs.store import JobStore

TINY = {"training": {"epochs": 2, "batch_size": 720}, "algorithm": {"rounds": 2, "rewind_epoch": 0}}


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    recorded = []                          # (round, potential mask after the epoch, fields)
    real_init = loop.RepeatRun.__init__

    def init(self, ctx, repeat):
        real_init(self, ctx, repeat)
        hook = dynamics_hook(self)         # what the lead appends when analysis.mask_dynamics is on

        def recording(round_index, stats):
            out = hook(round_index, stats)
            recorded.append((round_index, {n: m.clone() for n, m in hook.tracker._previous.items()}, out))
            return out
        self.epoch_hooks.append(recording)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loop.RepeatRun, "__init__", init)
        a = run(TINY, cache_dir=cache)
    b = run({**TINY, "pruner": {"score": "random"}}, cache_dir=cache)
    store = JobStore(cache)                # c: a's masks under another seed
    config = a.config.to_dict()
    config["seed"] = 1
    c = store.create_job(config, "other-seed", status="finished")["id"]
    shutil.copytree(a.run_dir.root, store.run_dir(c).root, dirs_exist_ok=True)
    events = store.events(a.job_id)
    store.close()
    return {"cache": cache, "a": a, "b": b, "c": c, "recorded": recorded, "events": events}


def test_dynamics_fields_and_the_potential_mask_is_the_next_rounds_mask(jobs):
    a, recorded = jobs["a"], jobs["recorded"]
    epochs = [e for e in jobs["events"] if e["type"] == "epoch"]
    assert [(e["round"], e["epoch"]) for e in epochs] == [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2)]
    for e in epochs:
        assert e["linf"] > 0 and e["l1_top_k"] >= e["linf"]
        if e["epoch"] == 1:
            assert e["mask_change_D"] is None and e["mask_change_D_tilde"] is None
        else:
            alive = a.rounds.loc[a.rounds["round"] == e["round"], "remaining_weights"].item()
            assert e["mask_change_D"] == e["mask_changes"] / alive
            assert e["mask_change_D_tilde"] == e["mask_changes"] / 50_200    # P^(0): 64·300 + 300·100 + 100·10
    # after the last epoch of round r, the potential mask is exactly the mask round r + 1 prunes to
    last = {r: potential for r, potential, _ in recorded}
    for r in (0, 1):
        masks = a.masks(r + 1)
        assert all(torch.equal(last[r][n].cpu(), masks[n]) for n in masks)


def test_jaccard_between_same_seed_runs(jobs):
    a, b, cache = jobs["a"], jobs["b"], jobs["cache"]
    out = jaccard_between_jobs(a.job_id, b.job_id, 2, cache)
    ma, mb = a.masks(2), b.masks(2)
    for name in ma:
        x, y = ma[name].numpy(), mb[name].numpy()
        assert out[name] == pytest.approx(1 - np.sum(x & y) / np.sum(x | y))
    assert 0 < out["__model__"] < 1
    assert jaccard_between_jobs(a.job_id, b.job_id, 0, cache)["__model__"] == 0.0   # both dense
    with pytest.raises(SeedMismatch):
        jaccard_between_jobs(a.job_id, jobs["c"], 1, cache)


def test_ensemble_members_reproduce_the_runs_accuracies(jobs):
    a, b, cache = jobs["a"], jobs["b"], jobs["cache"]
    result = ensemble_jobs([a.job_id, b.job_id], cache, device="cpu")
    final = [r.rounds["test_accuracy"].iloc[-1] for r in (a, b)]
    assert result["members"] == pytest.approx(final, abs=1e-12)
    assert result["jobs"] == [a.job_id, b.job_id] and 0 <= result["agreement"] <= 1
    dense = load_member(a.job_id, cache, round_index=0)
    assert dense.classifier[0].weight.ne(0).all()
    with pytest.raises(ValueError, match="only the weights"):
        load_member(a.job_id, cache, round_index=1)


def test_compression_effective_and_stability_on_a_run(jobs):
    a = jobs["a"]
    rounds = a.rounds
    table = compression_table(rounds, (0.0, 1.0))
    loose = table[table["drop"] == 1.0].iloc[0]          # everything eligible: the last round
    assert loose["round"] == 2
    assert loose["compression_ratio"] == pytest.approx(1 / rounds["remaining_fraction"].iloc[2])
    assert loose["flops_speedup"] == pytest.approx(rounds["flops"].iloc[0] / rounds["flops"].iloc[2])
    report = effective_report(load_member(a.job_id, jobs["cache"]), a.masks(2))
    assert report["supported"] and report["effective_sparsity"] >= report["explicit_sparsity"]
    assert report["explicit_sparsity"] == pytest.approx(rounds["sparsity"].iloc[2])
    files = a.run_dir.repeat(0)
    out = weight_stability(files.load_weights("round_000"), files.load_weights(files.last_weights()), a.masks(2))
    assert set(out) == set(a.masks(2)) | {"__model__"} and all(v > 0 for v in out.values())


def analyze(cache, *argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache")
    sub = parser.add_subparsers(dest="command", required=True)
    add_analysis_commands(sub)
    args = parser.parse_args(["--cache", str(cache), "analyze", *argv])
    return args.func(args)


def test_analyze_cli(jobs, capsys):
    a, b, cache = jobs["a"].job_id, jobs["b"].job_id, jobs["cache"]
    assert analyze(cache, "jaccard", a, b, "--round", "2", "--json") == 0
    assert json.loads(capsys.readouterr().out)["2"] == pytest.approx(jaccard_between_jobs(a, b, 2, cache))
    assert analyze(cache, "jaccard", a, b) == 0
    printed = capsys.readouterr().out
    assert "__model__" in printed and "classifier.0.weight" in printed
    assert analyze(cache, "jaccard", a, "--json") == 0
    assert set(json.loads(capsys.readouterr().out)) == {"1", "2"}
    assert analyze(cache, "jaccard", a, jobs["c"]) == 2
    assert "seed" in capsys.readouterr().err
    assert analyze(cache, "compression", a, b, "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["job"], r["drop"]) for r in rows] == [(a, 0.0), (a, 0.01), (b, 0.0), (b, 0.01)]
    assert analyze(cache, "effective", a, "--round", "2", "--json") == 0
    assert json.loads(capsys.readouterr().out)["supported"] is True
    assert analyze(cache, "ensemble", a, b, "--device", "cpu") == 0
    assert "ensemble (mean softmax)" in capsys.readouterr().out
    assert analyze(cache, "effective", "no-such-job") == 2
