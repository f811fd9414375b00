"""Figures and schedule arithmetic of the app (plans from ``Config.plan()``, laid out epoch by
epoch), checked against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

import pytest

from pruning_core import schedules as engine_schedules
from pruning_core.config import Config
from pruning_core.maskfile import write_masks_numpy
from pruning_core.rundir import RunDir
from pruning_core.summary import method_label, split_variants
from ui import data, figures


def rounds_table(accuracies: dict[int, list[float]], rate: float = 0.5) -> pd.DataFrame:
    """A rounds table: {repeat: [accuracy after round 0, 1, ...]}; remaining = (1 − rate)^r."""
    rows = []
    for repeat, accs in accuracies.items():
        for r, acc in enumerate(accs):
            rows.append({"repeat": repeat, "round": r, "remaining_fraction": (1 - rate) ** r,
                         "sparsity": 1 - (1 - rate) ** r, "test_accuracy": acc, "cumulative_epochs": 2 * r,
                         "layer_sparsity": {"fc": 1 - (1 - rate) ** r}})
    return pd.DataFrame(rows)


# ---- accuracy vs remaining weights -----------------------------------------------------------

def test_accuracy_vs_remaining_median_and_band():
    table = rounds_table({0: [0.90, 0.80, 0.70], 1: [0.94, 0.86, 0.60], 2: [0.92, 0.83, 0.65]})
    fig = figures.accuracy_vs_remaining(table)
    band, median, dense = fig.data
    assert band.fill == "toself"
    # band: max over repeats going right, then min coming back
    assert list(band.x) == [100, 50, 25, 25, 50, 100]
    assert np.allclose(band.y, [94, 86, 70, 60, 80, 90])
    assert list(median.x) == [100, 50, 25]
    assert np.allclose(median.y, [92, 83, 65])
    assert "median of 3" in median.name
    assert dense.marker.symbol == "star" and list(dense.x) == [100] and np.allclose(dense.y, [92])
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.autorange == "reversed"


def test_accuracy_vs_remaining_single_repeat_has_no_band_and_overlays():
    one = rounds_table({0: [0.9, 0.8]})
    two = rounds_table({0: [0.95, 0.9, 0.85]}, rate=0.2)
    fig = figures.accuracy_vs_remaining({"a": one, "b": two})
    assert [t.fill for t in fig.data] == [None, None, None, None]   # a line, a dense, b line, b dense
    assert fig.data[0].name == "a" and fig.data[2].name == "b"
    assert np.allclose(fig.data[2].x, [100, 80, 64])
    assert fig.data[1].showlegend and not fig.data[3].showlegend   # one "dense" legend entry


def test_evaluation_variants_are_markers_not_further_rounds():
    table = rounds_table({0: [0.5, 0.8, 0.9]}).assign(variant="ASNI-I")      # rounds 0..2 of a trajectory
    extra = table.iloc[[-1]].assign(round=3, test_accuracy=0.95, variant="ASNI-II")
    fig = figures.accuracy_vs_remaining(pd.concat([table, extra]))
    variant, line = fig.data[0], fig.data[1]
    assert variant.mode == "markers" and variant.name == "run · ASNI-II" and list(variant.y) == [95]
    assert list(line.y) == [50, 80, 90]                                     # the line stops at round 2
    main, extras = split_variants(pd.concat([table, extra]))
    assert list(main["round"]) == [0, 1, 2] and list(extras) == ["ASNI-II"]


def test_round_stats_counts_repeats_per_round():
    table = rounds_table({0: [0.9, 0.8, 0.7], 1: [0.9, 0.7]})         # repeat 1 still running
    stats = figures.round_stats(table)
    assert list(stats["n"]) == [2, 2, 1]
    assert np.allclose(stats["median"], [90, 75, 70])


# ---- masks -----------------------------------------------------------------------------------

def test_conv_mask_cells_are_kept_fractions_of_each_kernel():
    mask = np.zeros((2, 3, 2, 2), dtype=bool)      # out 2, in 3, kernel 2x2
    mask[0, 0] = True                                # 4/4 kept
    mask[0, 1, 0, 0] = True                          # 1/4
    mask[1, 2, :, 0] = True                          # 2/4
    grid, block = figures.mask_grid(mask)
    assert block == (1, 1)
    assert np.allclose(grid, [[1.0, 0.25, 0.0], [0.0, 0.0, 0.5]])
    fig = figures.mask_heatmap(mask, name="conv")
    assert np.allclose(np.array(fig.data[0].z), grid)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0.0, 1.0)
    assert fig.data[0].colorscale[0][1] == figures.PRUNED_COLOR
    assert fig.data[0].colorscale[-1][1] == figures.KEPT_COLOR
    assert "fraction of the kernel kept" in fig.layout.title.text
    assert "29.2% kept" in fig.layout.title.text                       # 7 of 24 weights


def test_large_linear_mask_is_block_averaged_with_ragged_edges():
    mask = np.zeros((5, 4), dtype=bool)
    mask[0, :] = True            # first row all kept
    mask[4, 3] = True
    grid, block = figures.mask_grid(mask, max_side=2)
    assert block == (3, 2)       # ceil(5/2) = 3 rows per block, ceil(4/2) = 2 columns
    # block rows: 0-2 and 3-4 (ragged, 2 rows); columns 0-1 and 2-3
    assert np.allclose(grid, [[2 / 6, 2 / 6], [0.0, 1 / 4]])
    fig = figures.mask_heatmap(mask, name="fc", max_side=2)
    assert list(fig.data[0].y) == [0, 3] and list(fig.data[0].x) == [0, 2]
    assert "3×2 block means" in fig.layout.title.text


def test_weights_view_blanks_pruned_entries():
    mask = np.array([[True, False], [True, True]])
    weights = np.array([[-2.0, 9.0], [0.5, -1.0]])
    fig = figures.mask_heatmap(mask, weights)
    z = np.array(fig.data[0].z, dtype=float)
    assert z[0, 0] == 2.0 and np.isnan(z[0, 1]) and z[1, 0] == 0.5 and z[1, 1] == 1.0


def test_layer_sparsity_bars_in_percent_with_global_line():
    fig = figures.layer_sparsity_bars({"a": 0.5, "b": 0.25}, 0.4)
    assert list(fig.data[0].x) == ["a", "b"] and np.allclose(fig.data[0].y, [50, 25])
    assert fig.layout.shapes[0].y0 == pytest.approx(40)


def test_mask_files_lists_finished_rounds_of_a_repeat(tmp_path):
    folder = tmp_path / "repeat_1" / "masks"
    folder.mkdir(parents=True)
    for r in (0, 1, 2):
        write_masks_numpy({"fc.weight": np.ones((2, 3), bool)}, folder / f"round_{r:03d}.npz")
    (folder / ".round_003.npz.123.tmp").write_bytes(b"half-written")    # a write in progress: not listed
    run_dir = RunDir(tmp_path)
    files = run_dir.repeat(1).mask_files()
    assert files == {r: folder / f"round_{r:03d}.npz" for r in (0, 1, 2)}
    assert run_dir.repeat(0).mask_files() == {}
    assert run_dir.mask_files() == [(1, r, folder / f"round_{r:03d}.npz") for r in (0, 1, 2)]
    assert data.load_masks_numpy(files[2])["fc.weight"].all()


# ---- schedules -------------------------------------------------------------------------------

def test_sigmoid_polynomial_geometric_values():
    s = engine_schedules.sigmoid_schedule(alpha=0.8, beta=0.5, gamma=2.0, epochs=10)     # after epochs 1..10
    assert len(s) == 10 and s[4] == pytest.approx(0.4)                      # e = 5 = βE: α/2
    assert s[6] == pytest.approx(0.8 / (1 + math.exp(-1)))                  # e = 7: α·sigmoid(1)
    p = engine_schedules.polynomial_schedule(0.0, 0.9, 0, 4, 6)                    # ramp over epochs 0..4 of 6
    assert p[0] == pytest.approx(0.9 - 0.9 * 0.75 ** 3)                     # e = 1
    assert p[1] == pytest.approx(0.9 - 0.9 * 0.5 ** 3)                      # e = 2
    assert p[3:] == pytest.approx([0.9, 0.9, 0.9])                          # e >= t_end: s_f
    fig = figures.sigmoid_schedule(s)
    assert list(fig.data[0].x) == list(range(1, 11)) and fig.data[0].y[4] == pytest.approx(40)
    g = engine_schedules.geometric_sparsity(0.2, 3)
    assert g == pytest.approx([0.0, 0.2, 0.36, 0.488])
    fig = figures.geometric_schedule(g)
    assert np.allclose(fig.data[0].y, [0, 20, 36, 48.8])


def test_imp_plan_epochs_sparsity_and_lr_policies():
    config = Config.from_dict({"algorithm": {"rounds": 2, "rewind_epoch": 1, "rate": 0.5},
                               "training": {"epochs": 3, "lr": 0.1, "lr_schedule": "linear"}})
    plan = config.plan().epochs(config.training, 1, samples=1)
    assert [p.index for p in plan] == list(range(7))
    assert [p.round for p in plan] == [0, 0, 0, 1, 1, 2, 2]                  # T = 3, then T − k = 2
    assert [p.sparsity for p in plan] == [0, 0, 0, 0.5, 0.5, 0.75, 0.75]
    # linear η(t) = 0.1 (1 − t/3): dense epochs 0, 1, 2; retraining replays epochs 1, 2
    assert [p.lr[0] for p in plan] == pytest.approx([0.1, 0.1 * 2 / 3, 0.1 / 3, 0.1 * 2 / 3, 0.1 / 3,
                                                     0.1 * 2 / 3, 0.1 / 3])
    # the two classic policies: WR (rewind + replay, the config above) and FT (keep + the last η)
    ft_config = config.replace(**{"algorithm.treatment": "keep", "algorithm.lr_policy": "ft"})
    wr_x, wr = figures.lr_curve(plan)
    ft_plan = ft_config.plan().epochs(ft_config.training, 1, samples=1)
    ft_x, ft = figures.lr_curve(ft_plan)
    assert wr_x == ft_x == list(range(7))
    assert wr == pytest.approx([p.lr[0] for p in plan])
    assert [p.round for p in ft_plan] == [0, 0, 0, 1, 1, 2, 2]
    last = 0.1 * (1 - (3 - 1) / 3)                                           # η at the last step
    assert ft[:3] == pytest.approx(wr[:3]) and ft[3:] == pytest.approx([last] * 4)
    assert config.plan().round_offsets() == {0: 0, 1: 3, 2: 5}
    assert config.plan().global_epochs([0, 1, 2], [3, 1, 2]) == [3, 4, 7]
    fig = figures.sparsity_schedule(plan, current_epoch=4)
    # one step per epoch, segments separated by a gap (None): [0, 1], [1, 2], ...
    assert list(fig.data[0].x[:6]) == [0, 1, None, 1, 2, None] and fig.layout.shapes[0].x0 == 4
    assert list(fig.data[0].y[9:11]) == pytest.approx([50, 50])              # epoch 3 (round 1): 50 %


def test_epoch_curves_one_legend_entry_per_repeat():
    epochs = pd.DataFrame([{"repeat": r, "round": 1, "epoch": e, "test_accuracy": 0.5 + 0.1 * e, "train_loss": 1.0,
                            "test_loss": 0.9, "lr": 0.01} for r in (0, 1) for e in (1, 2)])
    fig = figures.epoch_curves(epochs, 1)
    assert len(fig.data) == 8 and sum(bool(t.showlegend is not False) for t in fig.data) == 2
    assert np.allclose(fig.data[0].y, [60, 70])
    assert fig.layout.yaxis3.range[1] == pytest.approx(0.0115)


def test_gradual_plan_uses_the_engine_schedule_and_its_round_numbers():
    config = Config.from_dict({"algorithm": {"name": "gradual",
                                             "schedule": {"name": "polynomial", "target_sparsity": 0.8, "end": 4}},
                               "training": {"epochs": 5}})
    planned = config.algorithm.schedule.sparsities(5)            # after epochs 1..5
    assert planned == pytest.approx([0.8 * (1 - 0.75 ** 3), 0.8 * (1 - 0.5 ** 3), 0.8 * (1 - 0.25 ** 3), 0.8, 0.8])
    plan = config.plan().epochs(config.training, samples=1)
    assert [p.round for p in plan] == [1, 2, 3, 4, 5]            # round e = epoch e, no round 0
    assert [p.sparsity for p in plan] == pytest.approx([0.0] + planned[:-1])   # trained at p_{e-1}
    assert [p.lr[0] for p in plan] == pytest.approx([0.0012] * 5)            # the default constant η
    asni = Config.from_dict({"algorithm": {"name": "asni", "schedule": {"name": "sigmoid", "target_sparsity": 0.8}},
                             "training": {"epochs": 4}})
    asni_plan = asni.plan()
    plan = asni_plan.epochs(asni.training, samples=1)            # ASNI-I, then ASNI-II and its control
    assert len(plan) == asni_plan.total_epochs() == 12
    assert [p.round for p in plan] == [1, 2, 3, 4, 5, 5, 5, 5, 6, 6, 6, 6]
    assert [p.sparsity for p in plan[4:]] == pytest.approx([0.8] * 8)
    assert asni_plan.round_offsets() == {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 8}
    assert asni_plan.global_epochs([2, 5, 6, 7], [1, 4, 1, 1]) == [2, 8, 9, None]


# ---- comparison helpers ----------------------------------------------------------------------

def test_compare_table_speed_up_and_medians():
    cfg = Config().to_dict()
    slow = rounds_table({0: [0.9, 0.8, 0.7], 1: [0.9, 0.8, 0.9]})            # cost 4 epochs
    fast = rounds_table({0: [0.9, 0.85]})                                    # cost 2 epochs
    record = {"status": "finished", "config": cfg}
    table = data.compare_table({"slow": (record, slow), "fast": (record, fast)}, baseline="slow")
    assert list(table["cost (epochs)"]) == [4, 2]
    assert list(table["speed-up"]) == [1.0, 2.0]
    assert table["final acc %"].tolist() == pytest.approx([80.0, 85.0])
    assert table["sparsity %"].tolist() == pytest.approx([75.0, 50.0])


@pytest.mark.parametrize("config, label", [
    ({}, "IMP+WR ×5"),
    ({"algorithm": {"treatment": "keep"}}, "IMP+LRR ×5"),
    ({"training": {"epochs": 30}, "algorithm": {"rounds": 4, "rewind_epoch": 2, "partial_epochs": 10,
                                                "treatment": "keep"}}, "AIMP+LRR ×4"),
    ({"algorithm": {"treatment": "keep", "lr_policy": "ft"}}, "IMP+FT ×5"),
    ({"algorithm": {"treatment": "keep", "lr_policy": "slr", "retrain_epochs": 3}}, "IMP+SLR ×5"),
    ({"algorithm": {"name": "one_shot", "treatment": "keep", "lr_policy": "ft", "retrain_epochs": 3}}, "one-shot+FT"),
    ({"algorithm": {"name": "bimp", "rounds": 3, "dense_epochs": 2}}, "BIMP ×3"),
    ({"algorithm": {"name": "asni"}}, "ASNI"),
    ({"algorithm": {"name": "gradual"}}, "gradual (polynomial)"),
    ({"pruner": {"score": "random"}}, "IMP+WR ×5 · random/weight"),
])
def test_method_labels(config, label):
    assert method_label(Config.from_dict(config).to_dict()) == label


def test_method_label_of_a_first_release_config():
    assert method_label({"algorithm": {"name": "imp", "rounds": 7, "rewind": "none"}}) == "IMP+FT ×7"
    assert method_label({"algorithm": {"name": "imp", "rounds": 7, "rewind": "lr"}}) == "IMP+LRR ×7"


def test_device_short_names_the_gpu():
    assert data.device_short("cuda:0 (NVIDIA H100 80GB HBM3)") == "NVIDIA H100 80GB HBM3"
    assert data.device_short("cpu (2 threads)") == "CPU"
    assert data.device_short(None) == "not started"


def test_experiment_key_ignores_seed_and_device():
    a = Config.from_dict({"seed": 1}).to_dict()
    b = Config.from_dict({"seed": 2, "device": "cpu"}).to_dict()
    c = Config.from_dict({"seed": 1, "algorithm": {"rounds": 3}}).to_dict()
    assert data.experiment_key(a) == data.experiment_key(b) != data.experiment_key(c)


def test_analysis_figures_plot_the_engine_fields():
    rounds = pd.DataFrame({"repeat": [0, 0, 0], "round": [0, 1, 2], "sparsity": [0.0, 0.2, 0.36],
                           "effective_sparsity": [0.0, 0.25, 0.5],
                           "weight_stability": [None, {"__model__": 0.1, "a": 0.2}, {"__model__": 0.05}],
                           "stability_to_pruning": [None, 1.5, 2.5]})
    fig = figures.explicit_vs_effective(rounds)
    assert [t.name for t in fig.data] == ["explicit", "effective"]
    assert list(fig.data[0].y) == pytest.approx([0, 20, 36]) and list(fig.data[1].y) == pytest.approx([0, 25, 50])
    fig = figures.stability_per_round(rounds)
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[0].y) == pytest.approx([0.1, 0.05])
    assert list(fig.data[1].y) == pytest.approx([1.5, 2.5])
    epochs = pd.DataFrame({"repeat": [0, 0], "round": [0, 0], "mask_change_D": [None, 0.02],
                           "mask_change_D_tilde": [None, 0.01], "linf": [0.5, 0.6]})
    fig = figures.mask_dynamics(epochs)
    assert list(fig.data[0].y)[1] == pytest.approx(2.0) and list(fig.data[2].y) == pytest.approx([0.5, 0.6])
