"""The sweep view's pure parts (``ui.sweep_data``, ``ui.sweep_figures``) on hand-made tables:
labels, the job grid, final and nearest-sparsity points, heatmap cells, the per-combination
table, the grid's time estimate and the figures drawn from them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ui import sweep_data as sd
from ui import sweep_figures as sf

SWEEP = {"id": "s1", "name": "scores", "zipped": False, "jobs": ["j1", "j2", "j3", "j4"],
         "axes": [{"field": "pruner.score", "values": ["magnitude", "random"]}, {"field": "seed", "values": [0, 1]}]}


def rounds_of(job: str, score: str, seed: int, accs: list[float], status: str = "finished",
              rate: float = 0.5) -> list[dict]:
    """Rows of one job with one repeat: round r has (1 − rate)^r remaining and accuracy accs[r]."""
    return [{"pruner.score": score, "seed": str(seed), "job": job, "status": status, "repeat": 0, "round": r,
             "sparsity": 1 - (1 - rate) ** r, "remaining_fraction": (1 - rate) ** r, "test_accuracy": a,
             "cumulative_epochs": 2 * r} for r, a in enumerate(accs)]


def table() -> pd.DataFrame:
    """4 jobs: magnitude keeps accuracy, random loses it; j4 (random, seed 1) is still running."""
    return pd.DataFrame(rounds_of("j1", "magnitude", 0, [0.90, 0.90, 0.88])
                        + rounds_of("j2", "magnitude", 1, [0.92, 0.92, 0.86])
                        + rounds_of("j3", "random", 0, [0.90, 0.70, 0.50])
                        + rounds_of("j4", "random", 1, [0.92, 0.60], status="running"))


# ---- labels and the job grid ---------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [("magnitude", "magnitude"), (0.5, "0.5"), (None, "null"),
                                         ([80, 120], "[80, 120]"), (np.int64(3), "3"), (True, "true")])
def test_value_text(value, text):
    assert sd.value_text(value) == text


def test_labels_and_axes_text():
    assert sd.combo_label({"pruner.score": "random", "seed": 1}) == "pruner.score=random, seed=1"
    assert sd.combo_label({}) == "all jobs"
    assert sd.axes_text(SWEEP) == "pruner.score (2) × seed (2)"
    assert sd.axes_text({**SWEEP, "zipped": True}) == "pruner.score (2) ⇄ seed (2)"
    assert sd.value_order({"axes": [{"field": "a", "values": [2, 1, 2]}]}) == {"a": ["2", "1"]}


def test_job_grid_progress_and_the_home_row():
    records = {"j1": {"status": "finished", "axes": {"pruner.score": "magnitude", "seed": 0},
                      "progress": {"epochs_done": 8, "epochs_total": 8}},
               "j2": {"status": "running", "axes": {"pruner.score": "magnitude", "seed": 1},
                      "progress": {"epochs_done": 2, "epochs_total": 8}},
               "j3": {"status": "queued", "axes": {"pruner.score": "random", "seed": 0},
                      "progress": {"epochs_done": 0, "epochs_total": None}},
               "j4": {"id": "j4", "status": "unreadable", "error": "bad"}}
    grid = sd.job_grid(SWEEP, records)
    assert list(grid.columns) == ["job", "pruner.score", "seed", "status", "progress", "epochs"]
    assert list(grid["seed"]) == ["0", "1", "0", "?"] and list(grid["status"]) == ["finished", "running", "queued",
                                                                                    "unreadable"]
    assert list(grid["progress"]) == [1.0, 0.25, 0.0, 0.0] and list(grid["epochs"])[:3] == ["8 / 8", "2 / 8", "0 / ?"]
    row = sd.sweep_row(SWEEP, {k: v for k, v in records.items() if k != "j4"})
    assert row["finished"] == "1 / 4" and row["progress"] == pytest.approx(1.25 / 4)
    assert row["states"] == "1 running, 1 queued, 1 missing" and row["open"] == "Sweeps?sweep=s1"


# ---- points and cells ----------------------------------------------------------------------------

def test_final_points_are_the_last_round_of_finished_jobs():
    last = sd.last_rows(table())
    assert sorted(last["job"]) == ["j1", "j2", "j3"] and set(last["round"]) == {2}


def test_nearest_points_wait_until_a_running_job_reaches_the_sparsity():
    near = sd.nearest_rows(table(), 0.70)                    # rounds: 0, 50 %, 75 % sparsity
    assert dict(zip(near["job"], near["round"])) == {"j1": 2, "j2": 2, "j3": 2}     # j4 is at 50 % only
    near = sd.nearest_rows(table(), 0.40)
    assert dict(zip(near["job"], near["round"])) == {"j1": 1, "j2": 1, "j3": 1, "j4": 1}


def test_heatmap_cells_in_the_sweeps_order_with_blanks():
    median, count = sd.heatmap_table(sd.last_rows(table()), SWEEP, "pruner.score", "seed")
    assert list(median.index) == ["magnitude", "random"] and list(median.columns) == ["0", "1"]
    assert median.loc["magnitude", "0"] == pytest.approx(0.88) and np.isnan(median.loc["random", "1"])
    assert count.loc["random", "1"] == 0 and count.loc["magnitude", "1"] == 1
    median, count = sd.heatmap_table(sd.last_rows(table()), SWEEP, "pruner.score", None)
    assert list(median.columns) == ["all"] and median.loc["magnitude", "all"] == pytest.approx(0.87)
    assert count.loc["magnitude", "all"] == 2


def test_heatmap_keeps_seeds_beyond_the_axis_values():
    """A job with repeats runs seeds seed + repeat: the seed column lists them after the axis's."""
    points = sd.last_rows(table().assign(seed=lambda t: t["seed"].replace({"1": "10"})))
    median, _ = sd.heatmap_table(points, SWEEP, "seed", "pruner.score")
    assert list(median.index) == ["0", "1", "10"] and median.loc["1"].isna().all()


def test_combinations_per_non_seed_axis():
    grid = sd.job_grid(SWEEP, {"j1": {"status": "finished", "axes": {"pruner.score": "magnitude", "seed": 0}},
                               "j2": {"status": "finished", "axes": {"pruner.score": "magnitude", "seed": 1}},
                               "j3": {"status": "finished", "axes": {"pruner.score": "random", "seed": 0}},
                               "j4": {"status": "running", "axes": {"pruner.score": "random", "seed": 1}}})
    combos = sd.combinations(table(), SWEEP, grid)
    assert list(combos["pruner.score"]) == ["magnitude", "random"] and list(combos["jobs"]) == ["2 / 2", "1 / 2"]
    assert list(combos["round"]) == [2, 2] and list(combos["runs"]) == [2, 1]
    assert np.allclose(combos["accuracy %"], [87, 50]) and np.allclose(combos["min %"], [86, 50])
    assert np.allclose(combos["remaining %"], [25, 25]) and list(combos["search cost"]) == [4, 4]


def test_combinations_before_any_round_and_without_other_axes():
    seeds = {"id": "s2", "jobs": ["j1"], "axes": [{"field": "seed", "values": [0]}]}
    grid = sd.job_grid(seeds, {"j1": {"status": "queued", "axes": {"seed": 0}}})
    empty = sd.combinations(pd.DataFrame(columns=["seed", "job", "status", "repeat", "round"]), seeds, grid)
    assert list(empty["jobs"]) == ["0 / 1"] and empty["accuracy %"].isna().all()


# ---- the estimate of a grid --------------------------------------------------------------------

def test_shared_dense_rounds_count_once_and_the_slots_share_the_time():
    assert sd.shared_dense_repeats([["a", "b"], ["a", None], ["c"], ["b", "c"]]) == [0, 1, 0, 2]
    serial, wall = sd.sweep_seconds([(10, 1.0), (20, 0.5), (5, 2.0)], startup=8.0, slots=2)
    assert serial == pytest.approx(3 * 8 + 10 + 10 + 10) and wall == pytest.approx(serial / 2)
    assert sd.sweep_seconds([(10, 1.0)], startup=0.0, slots=8) == (10.0, 10.0)   # never more slots than jobs


# ---- figures -----------------------------------------------------------------------------------

def test_accuracy_lines_per_axis_value_with_bands():
    fig = sf.sweep_accuracy(table(), ["pruner.score"], sd.value_order(SWEEP))
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["pruner.score=magnitude (median of 2)", "pruner.score=random (median of 2)"]
    assert np.allclose(lines[0].y, [91, 91, 87]) and np.allclose(lines[1].y, [91, 65, 50])
    assert any(t.fill == "toself" for t in fig.data) and fig.layout.xaxis.type == "log"
    per_seed = sf.sweep_accuracy(table(), ["seed"], sd.value_order(SWEEP))
    assert [t.name for t in per_seed.data if t.mode == "lines+markers"] == ["seed=0 (median of 2)",
                                                                             "seed=1 (median of 2)"]
    assert [t.name for t in sf.sweep_accuracy(table(), [], {}).data if t.mode == "lines+markers"] == \
        ["all jobs (median of 4)"]


def test_heatmap_figure_values_text_and_escaped_labels():
    median = pd.DataFrame([[0.9, np.nan]], index=pd.Index(["<b>x</b>"], name="a"), columns=pd.Index(["0", "1"],
                                                                                                       name="seed"))
    count = pd.DataFrame([[2, 0]], index=median.index, columns=median.columns)
    fig = sf.accuracy_heatmap(median, count, title="Final <i>")
    heat = fig.data[0]
    assert np.allclose(heat.z[0][0], 90) and np.isnan(heat.z[0][1]) and list(heat.text[0]) == ["90.00", ""]
    assert list(heat.y) == ["&lt;b&gt;x&lt;/b&gt;"] and "&lt;i&gt;" in fig.layout.title.text
    assert fig.layout.xaxis.type == "category" and fig.layout.xaxis.title.text == "seed"


def test_search_cost_figures():
    combos = pd.DataFrame({"pruner.score": ["magnitude", "random"], "jobs": ["2 / 2", "1 / 2"],
                           "accuracy %": [87.0, np.nan], "min %": [86.0, np.nan], "max %": [88.0, np.nan],
                           "search cost": [4.0, 6.0]})
    bars = sf.search_cost_bars(combos, ["pruner.score"])
    assert list(bars.data[0].x) == ["pruner.score=magnitude", "pruner.score=random"] and list(bars.data[0].y) == [4, 6]
    scatter = sf.accuracy_vs_cost(combos, ["pruner.score"])
    assert len(scatter.data) == 1 and scatter.data[0].name == "pruner.score=magnitude"      # random: no accuracy yet
    assert list(scatter.data[0].error_y.array) == [1.0] and list(scatter.data[0].error_y.arrayminus) == [1.0]
