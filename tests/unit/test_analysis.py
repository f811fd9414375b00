"""Analyses with hand-computed numbers: Jaccard distance, mask dynamics D / D̃ / L∞ / L1-TOP(k),
compression at an accuracy drop (the torch-free parts are checked to stay torch-free)."""

import pathlib
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from pruning_core.analysis.compression import compression_at_drop, compression_table
from pruning_core.analysis.dynamics import MaskDynamics, dynamics_hook, l1_top_k, linf_norm
from pruning_core.analysis.maskmath import average_stability, jaccard_distance, jaccard_per_layer
from pruning_core.analysis.similarity import SeedMismatch, jaccard_across_rounds, jaccard_between_jobs
from pruning_core.config import defaults
from pruning_core.jobs.store import JobStore
from pruning_core.maskfile import write_masks_numpy
from pruning_core.plan import PruneStep
from pruning_core.pruners.pruner import make_pruner


def bools(n, kept):
    a = np.zeros(n, dtype=bool)
    a[list(kept)] = True
    return a


# ---- Jaccard -------------------------------------------------------------------------------

def test_jaccard_distance_over_kept_entries_numpy_and_torch_agree():
    a, b = bools(6, {0, 1, 2}), bools(6, {1, 2, 3})
    assert jaccard_distance(a, b) == 0.5                       # 1 − |{1,2}| / |{0,1,2,3}|
    assert jaccard_distance(torch.from_numpy(a), torch.from_numpy(b)) == 0.5
    assert jaccard_distance(a, torch.from_numpy(b)) == 0.5
    assert jaccard_distance(a, a) == 0.0
    assert jaccard_distance(bools(4, {0, 1}), bools(4, {2, 3})) == 1.0
    assert jaccard_distance(bools(4, set()), bools(4, set())) == 0.0   # both empty: identical
    # kept, not pruned entries: the pruned sets {3,4,5} and {0,4,5} would give 1 − 2/4 too, but
    # here they differ: A keeps {0}, B keeps {0,1,2,3} → 1 − 1/4, pruned sets {1..5} vs {4,5} → 1 − 2/5
    assert jaccard_distance(bools(6, {0}), bools(6, {0, 1, 2, 3})) == 0.75
    with pytest.raises(ValueError, match="shapes"):
        jaccard_distance(bools(3, {0}), bools(4, {0}))


def test_jaccard_per_layer_and_model_wide():
    a = {"l1": bools(6, {0, 1, 2}).reshape(2, 3), "l2": bools(3, {0, 1})}
    b = {"l1": bools(6, {1, 2, 3}).reshape(2, 3), "l2": bools(3, {0, 1})}
    expected = {"l1": 0.5, "l2": 0.0, "__model__": 1 - 4 / 6}  # model: ∩ = 2 + 2, ∪ = 4 + 2
    assert jaccard_per_layer(a, b) == pytest.approx(expected, abs=1e-15)
    ta = {k: torch.from_numpy(v) for k, v in a.items()}
    tb = {k: torch.from_numpy(v) for k, v in b.items()}
    assert jaccard_per_layer(ta, tb) == jaccard_per_layer(a, b)
    with pytest.raises(ValueError, match="only in A"):
        jaccard_per_layer(a, {"l1": b["l1"]})


def test_numpy_analysis_modules_import_without_torch():
    code = ("import sys; import pruning_core.analysis.maskmath, pruning_core.analysis.similarity, "
            "pruning_core.analysis.compression; from pruning_core.analysis import jaccard_distance; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def write_rounds(run_dir, repeat, masks_by_round):
    folder = pathlib.Path(run_dir) / f"repeat_{repeat}" / "masks"     # the run folder's layout, spelled out
    folder.mkdir(parents=True, exist_ok=True)
    for r, masks in masks_by_round.items():
        write_masks_numpy(masks, folder / f"round_{r:03d}.npz")


def test_jaccard_across_rounds_of_nested_masks(tmp_path):
    write_rounds(tmp_path, 0, {0: {"w": bools(10, range(10))}, 1: {"w": bools(10, range(8))},
                               2: {"w": bools(10, range(6))}})
    prev = jaccard_across_rounds(tmp_path, 0)
    assert prev == {1: {"w": pytest.approx(0.2), "__model__": pytest.approx(0.2)},
                    2: {"w": pytest.approx(0.25), "__model__": pytest.approx(0.25)}}   # 1 − 6/8
    assert {r: d["w"] for r, d in jaccard_across_rounds(tmp_path, 0, "first").items()} == \
        pytest.approx({1: 0.2, 2: 0.4})                                                # = sparsity
    assert {r: d["w"] for r, d in jaccard_across_rounds(tmp_path, 0, "last").items()} == \
        pytest.approx({0: 0.4, 1: 0.25})
    assert list(jaccard_across_rounds(tmp_path, 0, 1)) == [0, 2]
    with pytest.raises(FileNotFoundError):
        jaccard_across_rounds(tmp_path, 1)


def make_job(store, seed, masks_by_round, model="lenet300_100"):
    config = defaults().to_dict()
    config["seed"] = seed
    config["model"]["name"] = model
    job = store.create_job(config, f"hash{seed}{model}", status="finished")["id"]
    write_rounds(store.run_dir(job).root, 0, masks_by_round)
    return job


def test_jaccard_between_jobs_requires_the_same_seed(tmp_path):
    store = JobStore(tmp_path)
    a = make_job(store, 0, {0: {"w": bools(6, range(6))}, 1: {"w": bools(6, {0, 1, 2})}})
    b = make_job(store, 0, {0: {"w": bools(6, range(6))}, 1: {"w": bools(6, {1, 2, 3})}, 2: {"w": bools(6, {1})}})
    c = make_job(store, 1, {0: {"w": bools(6, range(6))}, 1: {"w": bools(6, {1, 2, 3})}})
    store.close()
    assert jaccard_between_jobs(a, b, 1, tmp_path) == {"w": 0.5, "__model__": 0.5}
    assert jaccard_between_jobs(a, b, -1, tmp_path)["w"] == 0.5      # last common round = 1
    assert jaccard_between_jobs(a, b, 0, tmp_path)["w"] == 0.0
    with pytest.raises(ValueError, match="common rounds"):
        jaccard_between_jobs(a, b, 2, tmp_path)
    with pytest.raises(SeedMismatch, match="seed 0.*seed 1"):
        jaccard_between_jobs(a, c, 1, tmp_path)
    assert jaccard_between_jobs(a, c, 1, tmp_path, allow_different_seeds=True)["w"] == 0.5


# ---- mask dynamics (AIMP §V-F) -----------------------------------------------------------------

def test_mask_dynamics_D_and_D_tilde_on_a_crafted_sequence():
    w = torch.tensor([0.0, 0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    masks = {"w": w != 0}                                      # P^(i) = 8 alive, P^(0) = 10
    tracker = MaskDynamics([(("w",), 0.25)], topk=3)            # prunes ⌊0.25·8 + ½⌋ = 2
    first = tracker.update({"w": w}, masks, round_index=1)
    assert first["mask_change_D"] is None and first["mask_change_D_tilde"] is None
    assert first["linf"] == pytest.approx(1.0) and first["l1_top_k"] == pytest.approx(2.7)   # 1 + .9 + .8
    assert torch.equal(tracker._previous["w"], torch.tensor([False] * 4 + [True] * 6))
    w2 = w.clone()
    w2[3], w2[5] = 0.65, 0.35               # the kept 0.6 drops below the pruned 0.4: one pair swaps
    second = tracker.update({"w": w2}, masks, round_index=1)
    assert second["mask_changes"] == 2
    assert second["mask_change_D"] == 2 / 8 and second["mask_change_D_tilde"] == 2 / 10
    third = tracker.update({"w": w2}, masks, round_index=1)
    assert third["mask_change_D"] == 0.0 and third["mask_changes"] == 0
    assert tracker.update({"w": w2}, masks, round_index=2)["mask_change_D"] is None   # new round
    # inferred masks (w ≠ 0) give the same numbers; start_round gives the first epoch a reference
    tracker.start_round({"w": w})
    assert tracker.update({"w": w2}, round_index=3)["mask_change_D"] == 2 / 8


def test_mask_dynamics_across_layers_ranks_the_group_jointly():
    params = {"a": torch.tensor([[0.1, 0.9], [0.5, 0.2]]), "b": torch.tensor([0.3, 0.8, 0.6, 0.7])}
    tracker = MaskDynamics([(("a", "b"), 0.25)], topk=100)      # 8 alive: prunes 2 (0.1 and 0.2)
    out = tracker.update(params)
    assert out["mask_change_D"] is None
    assert out["l1_top_k"] == pytest.approx(4.1) and out["linf"] == pytest.approx(0.9)   # k > 8: all
    params["b"] = torch.tensor([0.15, 0.8, 0.6, 0.7])           # 0.15 now below 0.2 → 2 changes
    out = tracker.update(params)
    assert out["mask_change_D"] == 2 / 8 and out["mask_change_D_tilde"] == 2 / 8   # D^(0) = D̃^(0)
    assert l1_top_k(params, 2) == pytest.approx(1.7) and linf_norm(params) == pytest.approx(0.9)


def tiny_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_potential_mask_is_what_the_magnitude_pruner_returns_now():
    config = defaults()
    model = tiny_mlp()
    params = {"0.weight": model[0].weight, "2.weight": model[2].weight}
    masks = {n: torch.rand(p.shape, generator=torch.Generator().manual_seed(1)) > 0.3 for n, p in params.items()}
    rate = config.plan().rate
    tracker = MaskDynamics.for_run(config, model, rate)
    pruned = make_pruner(config, model).prune(masks, PruneStep.fraction(rate), 1, torch.Generator())
    potential = tracker.potential(params, masks)
    assert all(torch.equal(potential[n], pruned[n]) for n in params)


def run_like(config, model):
    """The parts of a RepeatRun the dynamics hook reads: config, plan, model, prunable params."""
    return SimpleNamespace(model=model, config=config, plan=config.plan(),
                           params={"0.weight": model[0].weight, "2.weight": model[2].weight})


def test_dynamics_hook_for_repeat_epoch_hooks():
    model = tiny_mlp()
    rep = run_like(defaults(), model)
    hook = dynamics_hook(rep)
    out = hook(0, None)
    assert set(out) == {"mask_change_D", "mask_change_D_tilde", "mask_changes", "linf", "l1_top_k"}
    assert out["mask_change_D"] is None
    assert out["linf"] == pytest.approx(max(float(p.detach().abs().max()) for p in rep.params.values()))
    assert hook(0, None)["mask_change_D"] == 0.0                 # unchanged weights: nothing moves
    with torch.no_grad():
        model[0].weight.neg_()                                   # magnitudes unchanged
    assert hook(0, None)["mask_change_D"] == 0.0
    assert hook.tracker.topk == 1000
    assert hook(1, None)["mask_change_D"] is None                # IMP: a new round starts afresh
    config = defaults().replace(algorithm={"name": "gradual",
                                           "schedule": {"name": "polynomial", "target_sparsity": 0.5}})
    gradual = run_like(config, model)
    hook = dynamics_hook(gradual)          # pruning every epoch: each epoch is a round, compared across
    hook(1, None)
    assert hook(2, None)["mask_change_D"] == 0.0
    asni = run_like(defaults().replace(algorithm={"name": "asni"}), model)     # E = 6: ASNI-II is round 7
    hook = dynamics_hook(asni)
    hook(5, None)
    assert hook(6, None)["mask_change_D"] == 0.0                 # epochs of ASNI-I: compared across
    assert hook(7, None)["mask_change_D"] is None                # ASNI-II restarts the weights: afresh


# ---- compression at an accuracy drop (IAP Table 2, Fig. 5) --------------------------------------

def rounds_frame():
    rf = [1.0, 0.8, 0.64, 0.512]
    flops = [100, 80, 64, 50]
    rows = [dict(repeat=0, round=r, remaining_fraction=rf[r], flops=flops[r], test_accuracy=a)
            for r, a in enumerate([0.90, 0.905, 0.895, 0.88])]
    rows += [dict(repeat=1, round=r, remaining_fraction=rf[r], flops=flops[r], test_accuracy=a)
             for r, a in enumerate([0.80, 0.79, 0.81, 0.805])]
    return pd.DataFrame(rows)


def test_compression_at_drop_per_repeat_and_median():
    frame = rounds_frame()
    one = compression_at_drop(frame[frame.repeat == 0], 0.0)
    assert one["round"] == 1 and one["remaining_fraction"] == 0.8
    assert one["compression_ratio"] == pytest.approx(1.25) and one["flops_speedup"] == pytest.approx(1.25)
    one = compression_at_drop(frame[frame.repeat == 0], 0.01)                    # ≥ 0.89: rounds 0–2
    assert one["round"] == 2 and one["compression_ratio"] == pytest.approx(1 / 0.64)
    assert one["flops_speedup"] == pytest.approx(100 / 64) and one["accuracy_drop"] == pytest.approx(0.005)
    both = compression_at_drop(frame, 0.0)            # repeat 1 reaches round 3 (0.805 ≥ 0.80)
    assert [r["round"] for r in both["per_repeat"]] == [1, 3] and both["repeats"] == 2
    assert both["round"] == 2                          # median of 1 and 3
    assert both["compression_ratio"] == pytest.approx((1.25 + 1 / 0.512) / 2)
    assert both["flops_speedup"] == pytest.approx((1.25 + 2.0) / 2)
    assert both["remaining_fraction"] == pytest.approx((0.8 + 0.512) / 2)
    table = compression_table(frame)
    assert list(table["drop"]) == [0.0, 0.01] and "per_repeat" not in table
    assert table.loc[1, "compression_ratio"] == pytest.approx((1 / 0.64 + 1 / 0.512) / 2)


def test_compression_dense_flops_and_best_speedup():
    frame = pd.DataFrame(dict(round=[0, 1, 2], remaining_fraction=[1.0, 0.8, 0.7], flops=[100, 50, 80],
                              test_accuracy=[0.5, 0.6, 0.5]))
    out = compression_at_drop(frame, 0.0)
    assert out["round"] == 2 and out["flops_speedup"] == pytest.approx(1.25)
    assert out["best_flops_speedup"] == pytest.approx(2.0)                       # round 1
    out = compression_at_drop(frame.assign(dense_flops=200), 0.0)
    assert out["flops_speedup"] == pytest.approx(2.5)
    out = compression_at_drop(frame.drop(columns="flops"), 0.0)
    assert out["flops_speedup"] is None and out["compression_ratio"] == pytest.approx(1 / 0.7)
    with pytest.raises(ValueError, match="round 0"):
        compression_at_drop(frame[frame["round"] > 0], 0.01)
    with pytest.raises(ValueError, match=">= 0"):
        compression_at_drop(frame, -0.01)


def test_average_stability_skips_empty_layers():
    assert average_stability([{"a": 1.0, "b": None}, {"a": 3.0, "b": 2.0}, {"a": 2.0, "b": None}]) == \
        {"a": 2.0, "b": 2.0}
