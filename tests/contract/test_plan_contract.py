"""The contract of plan(): for every registered algorithm, what the loop actually trained — the
rounds, the epochs of each and their positions in the schedule, the LR of every step, the search
cost and the sparsity after each round — is exactly what its plan says.

Each algorithm runs with its defaults on LeNet-300-100 and digits (T = 6, batch 400: 4 steps per
epoch), plus variants that exercise every LR policy, AIMP's τ and a threshold selection. The LR of
a policy scaled at run time (ALLR) is checked against the plan times the d the round reports.
"""

from __future__ import annotations

import math

import pytest

import pruning_core.loop as loop
from pruning_core import run
from pruning_core.config import Config
from pruning_core.pruners.counting import prune_count
from pruning_core.registry import ALGORITHMS, LR_POLICIES
from pruning_core.schedules import LRSchedule

TINY = {"training": {"epochs": 6, "batch_size": 400}}
N_TRAIN = 1437                                         # digits: 4 steps of 400


def variants() -> dict[str, dict]:
    cases = {name: {"algorithm": {"name": name}} for name in ALGORITHMS.names()}
    for policy in LR_POLICIES.names():
        if policy != "replay":
            cases[f"imp+{policy}"] = {"algorithm": {"rounds": 2, "treatment": "keep", "lr_policy": policy,
                                                    "retrain_epochs": 2}}
    cases["aimp"] = {"algorithm": {"rounds": 3, "rewind_epoch": 1, "partial_epochs": 3}}
    cases["imp+sigma_sign"] = {"algorithm": {"rounds": 2, "treatment": "sigma_sign", "rewind_epoch": 2}}
    cases["aiap"] = {"pruner": {"score": "activation", "selection": {"name": "threshold", "start_round": 0,
                                                                     "step": 0.5}},
                     "algorithm": {"rounds": 2, "rewind_epoch": 1}}
    cases["gradual+sigmoid"] = {"algorithm": {"name": "gradual", "schedule": "sigmoid"}}
    return cases


@pytest.fixture
def trained(monkeypatch):
    """Record every training call: its schedule epochs and the LR of every step."""
    calls = []
    real = loop.train_epochs

    def spy(model, data, cfg, schedule_epochs, lr_at, generator, *, callbacks=None, **kw):
        call = {"schedule_epochs": list(schedule_epochs), "lrs": []}
        calls.append(call)
        after_step = callbacks.after_step

        def record(lr):
            call["lrs"].append(lr)
            if after_step is not None:
                after_step(lr)
        callbacks.after_step = record
        return real(model, data, cfg, call["schedule_epochs"], lr_at, generator, callbacks=callbacks, **kw)

    monkeypatch.setattr(loop, "train_epochs", spy)
    return calls


def expected_remaining(plan, total: int) -> list[int | None]:
    """The prunable weights alive after each round under the counting rule, for a pruner that ranks
    all layers as one group (None where a threshold decides; 50,200 weights on digits)."""
    alive, out = total, []
    for step in plan.rounds:
        if step.prune is None:
            pass
        elif step.prune.kind == "fraction" and step.sparsity is not None:
            alive -= prune_count(step.prune.value, alive)
        elif step.prune.kind == "to_sparsity":
            alive = min(alive, total - prune_count(step.prune.value, total))
        else:
            alive = None
        out.append(alive)
    return out


@pytest.mark.parametrize("name", sorted(variants()))
def test_what_the_loop_trained_is_the_plan(name, tmp_path, trained):
    config = Config.from_dict({**TINY, **variants()[name]})
    plan = config.plan()
    result = run(config, cache_dir=tmp_path)
    rounds, epochs = result.rounds, result.epochs
    assert rounds["round"].tolist() == [r.index for r in plan.rounds]
    assert len(trained) == len(plan.rounds)
    steps = math.ceil(N_TRAIN / config.training.batch_size)
    schedule = LRSchedule(config.training)
    remaining = expected_remaining(plan, 50_200)
    for step, call, (_, row), alive in zip(plan.rounds, trained, rounds.iterrows(), remaining):
        assert call["schedule_epochs"] == step.schedule_epochs(), step
        assert int(row["retrain_epochs"]) == step.epochs
        assert int(row["cumulative_epochs"]) == step.cumulative
        assert (epochs["round"] == step.index).sum() == step.epochs
        d = row["allr_d"] if step.lr.scaled else 1.0
        lr_at = step.lr.function(schedule, steps, d)
        planned = [lr_at(e + i / steps) for e in step.schedule_epochs() for i in range(steps)]
        assert call["lrs"] == planned, step
        if alive is not None and config.pruner.grouping == "global" and config.pruner.unit == "weight":
            assert int(row["remaining_weights"]) == alive, step
        if step.sparsity is not None and config.pruner.unit == "weight":
            assert row["sparsity"] == pytest.approx(step.sparsity, abs=1.5 * len(plan.rounds) / 50_200)
    assert result.summary["totals"]["planned_search_cost_epochs"] == plan.search_cost()
    trajectory = [r for r in plan.rounds if r.search]
    assert result.summary["totals"]["search_cost_epochs"] == trajectory[-1].cumulative
