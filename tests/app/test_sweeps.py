"""Sweeps in the app under streamlit.testing's AppTest: the Experiment page's axes and preview,
Home's sweep list, the Sweeps page of a finished sweep, and Cancel / Resume of a sweep or one job.

A finished sweep is built directly in a private copy of the seeded store: the engine queues the
grid (``queue_sweep``, no worker) and every job gets the seeded run's events, its accuracies
shifted by its axis values, so every cell of the page has a known value. No worker ever starts.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from pruning_core.jobs.store import JobStore
from pruning_core.sweeps import Axis, expand, queue_sweep

REPO = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT = 90
SHIFT = {"magnitude": 0.0, "random": -0.3}          # accuracy added to every pruned round, per score


def page(name: str, **query) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    at.query_params.update(query)
    return at.switch_page(f"pages/{name}.py").run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def unescaped(text: str) -> str:
    """Markdown text as it reads: the backslash escapes of ``ui.text.plain`` removed."""
    return re.sub(r"\\(.)", r"\1", text)


def texts(at: AppTest) -> str:
    return unescaped("\n".join(m.value for m in [*at.markdown, *at.caption, *at.info, *at.warning, *at.error,
                                                  *at.success]))


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def make_sweep(root: pathlib.Path, job_id: str, finished: bool = True) -> dict:
    """A 2 × 2 sweep (pruner.score × seed) over the seeded job's config (2 repeats); each job holds
    the seeded run's events, its repeats' seeds seed + repeat, its pruned rounds' accuracy shifted
    by SHIFT[score] − 0.01 · seed."""
    store = JobStore(root)
    events = store.events(job_id)
    grid = expand({"algorithm": {"rounds": 2}, "repeats": 2},
                  [Axis("pruner.score", ("magnitude", "random")), Axis("seed", (0, 1))])
    sweep = queue_sweep(grid, root, name="scores", origin="test")
    if not finished:
        return sweep
    for job in sweep["jobs"]:
        axes = store.get_job(job)["axes"]
        shift = SHIFT[axes["pruner.score"]] - 0.01 * axes["seed"]
        for event in events:
            if event["type"] == "round":
                event = {**event, "seed": axes["seed"] + event["repeat"],
                         "test_accuracy": event["test_accuracy"] + (shift if event["round"] > 0 else 0.0)}
            store.append_event(job, event)
        store.update_job(job, status="finished", progress={"epochs_done": 16, "epochs_total": 16, "eta_seconds": 0})
    return sweep


def final_accuracies(root: pathlib.Path, job_id: str) -> list[float]:
    """The seeded job's accuracy after its last round, per repeat."""
    rounds = [e for e in JobStore(root).events(job_id) if e["type"] == "round"]
    last = max(e["round"] for e in rounds)
    return [e["test_accuracy"] for e in sorted(rounds, key=lambda e: e["repeat"]) if e["round"] == last]


def array(value) -> np.ndarray:
    """A Plotly JSON array: a list, or plotly's typed array (``{"dtype", "bdata", "shape"}``)."""
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).reshape(shape)
    return np.asarray(value, dtype=float)


def vary(at: AppTest, *fields: str) -> AppTest:
    return at.multiselect(key="sweep_fields").set_value(list(fields)).run()


# ---- experiment ------------------------------------------------------------------------------

def test_no_axis_leaves_the_single_job_page_as_it_was(store_dir, no_worker):
    at = page("1_Experiment")
    no_exception(at)
    assert at.multiselect(key="sweep_fields").value == []
    assert not at.button(key="launch").disabled
    assert not [b for b in at.button if b.key == "launch_sweep"]
    assert "Search cost" in metrics(at) and len(at.get("plotly_chart")) == 3


def test_a_sweep_preview_counts_jobs_cost_and_time_and_launches(store_dir, no_worker):
    root, _ = store_dir
    at = page("1_Experiment")
    at = vary(at, "pruner.score")
    no_exception(at)
    at.multiselect(key="sweep:pruner.score:pick").set_value(["magnitude", "random"]).run()
    at.number_input(key="sweep_seed_n").set_value(2).run()
    at.button(key="sweep_seeds").click().run()                       # one click: seeds 0 … n − 1
    no_exception(at)
    assert at.multiselect(key="sweep_fields").value == ["pruner.score", "seed"]
    assert at.text_input(key="sweep:seed:list").value == "0, 1"
    shown = metrics(at)
    assert shown["Jobs"] == "4" and shown["Invalid"] == "0"
    assert shown["Search cost (all jobs)"] == "20 ep."               # 4 jobs × 5 rounds × (T − k = 1)
    assert shown["Epochs (all jobs)"] == "44"                        # 4 × (6 dense + 5)
    assert shown["Sweep time (est.)"] not in ("?", "")
    assert "varied by the sweep" in texts(at)                        # marked under the form's field
    assert not [b for b in at.button if b.key == "launch"]           # one Launch: the sweep's
    at.text_input(key="sweep_name").input("scores").run()
    at.button(key="launch_sweep").click().run()
    no_exception(at)
    sweeps = JobStore(root).list_sweeps()
    assert len(sweeps) == 1 and sweeps[0]["name"] == "scores" and len(sweeps[0]["jobs"]) == 4
    assert sweeps[0]["axes"] == [{"field": "pruner.score", "values": ["magnitude", "random"]},
                                 {"field": "seed", "values": [0, 1]}]
    jobs = [JobStore(root).get_job(j) for j in sweeps[0]["jobs"]]
    assert {(j["config"]["pruner"]["score"]["name"], j["config"]["seed"]) for j in jobs} == \
        {("magnitude", 0), ("magnitude", 1), ("random", 0), ("random", 1)}
    assert all(j["status"] == "queued" for j in jobs) and no_worker
    assert [t.value for t in at.title] == ["Sweeps"] and at.query_params["sweep"] == sweeps[0]["id"]


def test_invalid_combinations_are_listed_and_block_the_launch(store_dir, no_worker):
    at = vary(page("1_Experiment"), "algorithm.rewind_epoch")
    at.text_input(key="sweep:algorithm.rewind_epoch:list").input("0, 6").run()
    no_exception(at)
    assert metrics(at)["Jobs"] == "2" and metrics(at)["Invalid"] == "1"
    error = unescaped("\n".join(e.value for e in at.error))
    assert "algorithm.rewind_epoch=6" in error and "allowed: an epoch 0 <= k < training.epochs" in error
    assert at.button(key="launch_sweep").disabled
    at.text_input(key="sweep:algorithm.rewind_epoch:list").input("0, 3").run()
    assert metrics(at)["Invalid"] == "0" and not at.button(key="launch_sweep").disabled


def test_an_error_in_a_field_that_is_not_varied_blocks_the_sweep(store_dir, no_worker):
    at = vary(page("1_Experiment"), "seed")
    at.selectbox(key="cfg:training.lr_schedule").select("step").run()
    at.text_input(key="cfg:training.milestones").input("2, x").run()       # not parsed: would be left out
    no_exception(at)
    assert "Fix the fields marked in red to see the sweep" in texts(at)
    assert "training.milestones: integers separated by commas" in texts(at)
    assert not [b for b in at.button if b.key in ("launch", "launch_sweep")]
    at.text_input(key="cfg:training.milestones").input("2, 4").run()
    assert metrics(at)["Jobs"] == "1" and not at.button(key="launch_sweep").disabled


def test_a_range_axis_and_zipped_axes(store_dir, no_worker):
    at = vary(page("1_Experiment"), "training.lr", "algorithm.rounds")
    at.radio(key="sweep:training.lr:mode").set_value("range").run()
    at.number_input(key="sweep:training.lr:start").set_value(0.001).run()
    at.number_input(key="sweep:training.lr:stop").set_value(0.1).run()
    at.toggle(key="sweep:training.lr:log").set_value(True).run()
    at.text_input(key="sweep:algorithm.rounds:list").input("2, 3, 4").run()
    no_exception(at)
    assert "training.lr: 3 value(s): 0.001, 0.01, 0.1" in texts(at)
    assert metrics(at)["Jobs"] == "9"
    at.toggle(key="sweep_zip").set_value(True).run()
    no_exception(at)
    assert metrics(at)["Jobs"] == "3"
    assert metrics(at)["Search cost (all jobs)"] == "9 ep."                    # 2 + 3 + 4 rounds of 1 epoch


def test_an_unparsable_value_list_is_named_and_nothing_launches(store_dir, no_worker):
    at = vary(page("1_Experiment"), "algorithm.rounds")
    at.text_input(key="sweep:algorithm.rounds:list").input("3,,4").run()
    no_exception(at)
    assert "algorithm.rounds: values separated by single commas (an empty value)" in texts(at)
    assert not [b for b in at.button if b.key in ("launch", "launch_sweep")]


def test_more_than_the_limit_needs_a_confirmation(store_dir, no_worker, monkeypatch):
    from pruning_core.sweeps import grid as grid_module
    from ui import sweep_form

    monkeypatch.setattr(sweep_form, "MAX_JOBS_WITHOUT_CONFIRMATION", 3)
    monkeypatch.setattr(grid_module, "MAX_JOBS_WITHOUT_CONFIRMATION", 3)
    root, _ = store_dir
    at = vary(page("1_Experiment"), "seed")
    at.text_input(key="sweep:seed:list").input("0, 1, 2, 3").run()
    no_exception(at)
    assert metrics(at)["Jobs"] == "4" and "Invalid" not in metrics(at)     # not expanded before the confirmation
    assert at.button(key="launch_sweep").disabled
    at.checkbox(key="sweep_confirm").check().run()
    no_exception(at)
    assert metrics(at)["Invalid"] == "0" and not at.button(key="launch_sweep").disabled
    at.button(key="launch_sweep").click().run()
    no_exception(at)
    assert len(JobStore(root).list_sweeps()[0]["jobs"]) == 4


def test_a_grid_of_1001_seeds_asks_before_expanding(store_dir, no_worker):
    at = vary(page("1_Experiment"), "seed")
    at.radio(key="sweep:seed:mode").set_value("range").run()
    at.number_input(key="sweep:seed:stop").set_value(1000).run()
    no_exception(at)
    assert metrics(at)["Jobs"] == "1,001"
    assert at.checkbox(key="sweep_confirm").value is False and at.button(key="launch_sweep").disabled


# ---- home ------------------------------------------------------------------------------------

def test_home_lists_the_sweep_as_a_group(store_dir, no_worker):
    root, job_id = store_dir
    sweep = make_sweep(root, job_id)
    store = JobStore(root)
    store.update_job(sweep["jobs"][3], status="queued", progress={"epochs_done": 0, "epochs_total": None})
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    no_exception(at)
    table = at.dataframe[0].value
    row = table.iloc[0]
    assert (row["name"], row["axes"], row["finished"]) == ("scores", "pruner.score (2) × seed (2)", "3 / 4")
    assert row["progress"] == pytest.approx(0.75) and row["states"] == "1 queued"
    assert row["open"] == f"Sweeps?sweep={sweep['id']}"
    jobs = at.dataframe[1].value
    assert set(sweep["jobs"]) <= set(jobs["job"])                    # its jobs stay in the job list


# ---- the sweep page --------------------------------------------------------------------------

def test_the_sweep_page_shows_a_finished_sweep(store_dir, no_worker):
    root, job_id = store_dir
    sweep = make_sweep(root, job_id)
    acc = final_accuracies(root, job_id)
    at = page("5_Sweeps", sweep=sweep["id"])
    no_exception(at)
    assert metrics(at)["Finished"] == "4 / 4" and metrics(at)["Jobs"] == "4"
    charts = {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
              for c in at.get("plotly_chart")}
    heat = next(v for k, v in charts.items() if k.startswith("Final test accuracy"))["data"][0]
    # columns: the runs' own seeds (seed + repeat); a cell is the median of the runs with that seed
    assert heat["type"] == "heatmap" and heat["y"] == ["magnitude", "random"] and heat["x"] == ["0", "1", "2"]
    runs = {(s, seed + r): [] for s in SHIFT for seed in (0, 1) for r in (0, 1)}
    for s in SHIFT:
        for seed in (0, 1):
            for r in (0, 1):
                runs[(s, seed + r)].append(acc[r] + SHIFT[s] - 0.01 * seed)
    expected = [[100 * np.median(runs[(s, k)]) for k in (0, 1, 2)] for s in ("magnitude", "random")]
    assert np.allclose(array(heat["z"]), expected)
    lines = next(v for k, v in charts.items() if "weights remaining" in k)["data"]
    assert {t["name"] for t in lines if t.get("mode") == "lines+markers"} == \
        {"pruner.score=magnitude (median of 4)", "pruner.score=random (median of 4)"}
    results = at.dataframe[0].value
    assert list(results["pruner.score"]) == ["magnitude", "random"] and list(results["jobs"]) == ["2 / 2"] * 2
    assert np.allclose(results["accuracy %"],
                       [100 * np.median([a + SHIFT[s] - 0.01 * seed for a in acc for seed in (0, 1)])
                        for s in ("magnitude", "random")])
    assert list(results["search cost"]) == [2, 2] and list(results["runs"]) == [4, 4]
    assert any(k.startswith("Search cost") for k in charts)
    status = at.dataframe[1].value
    assert list(status.columns[:3]) == ["job", "pruner.score", "seed"] and set(status["status"]) == {"finished"}
    assert at.button(key="sweep_cancel").disabled and at.button(key="sweep_resume").disabled


def test_the_heatmap_over_chosen_axes_and_at_a_sparsity(store_dir, no_worker):
    root, job_id = store_dir
    sweep = make_sweep(root, job_id)
    at = page("5_Sweeps", sweep=sweep["id"])
    at.selectbox(key="heat_cols").set_value("__none__").run()
    at.radio(key="heat_metric").set_value("accuracy at a sparsity").run()
    at.slider(key="heat_sparsity").set_value(0.0).run()              # the dense round: no shift at all
    no_exception(at)
    rounds = [e for e in JobStore(root).events(job_id) if e["type"] == "round" and e["round"] == 0]
    dense = np.median([e["test_accuracy"] for e in rounds])
    heat = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if "nearest 0.0% sparsity" in json.loads(c.proto.spec)["layout"]["title"]["text"])["data"][0]
    assert heat["x"] == ["all"] and np.allclose(array(heat["z"]), [[100 * dense]] * 2)


def test_an_unknown_sweep_in_the_url_is_named_as_text(store_dir, no_worker):
    root, job_id = store_dir
    sweep = make_sweep(root, job_id)
    at = page("5_Sweeps", sweep="[x](http://evil)")
    no_exception(at)
    assert any("No sweep" in w.value and "\\[x\\]" in w.value for w in at.warning)
    assert at.query_params["sweep"] == sweep["id"]


def test_no_sweeps_yet(store_dir, no_worker):
    at = page("5_Sweeps")
    no_exception(at)
    assert "No sweeps yet" in texts(at)


def test_cancel_and_resume_the_whole_sweep_or_one_job(store_dir, no_worker):
    root, job_id = store_dir
    sweep = make_sweep(root, job_id, finished=False)
    store = JobStore(root)
    jobs = sweep["jobs"]
    at = page("5_Sweeps", sweep=sweep["id"])
    no_exception(at)
    assert metrics(at)["Queued"] == "4"
    at.selectbox(key="sweep_job").set_value(jobs[1]).run()
    at.button(key="job_cancel").click().run()
    no_exception(at)
    assert [store.get_job(j)["status"] for j in jobs] == ["queued", "cancelled", "queued", "queued"]
    at.button(key="sweep_cancel").click().run()
    assert {store.get_job(j)["status"] for j in jobs} == {"cancelled"}
    at.selectbox(key="sweep_job").set_value(jobs[2]).run()
    at.button(key="job_resume").click().run()
    no_exception(at)
    assert [store.get_job(j)["status"] for j in jobs] == ["cancelled", "cancelled", "queued", "cancelled"]
    assert store.get_job(jobs[2])["resume"] is True
    at.button(key="sweep_resume").click().run()
    no_exception(at)
    assert {store.get_job(j)["status"] for j in jobs} == {"queued"} and no_worker


def test_the_sweep_page_never_imports_torch(store_dir):
    """The Sweeps page and the Experiment page with axes run in a fresh interpreter without torch."""
    root, job_id = store_dir
    sweep = make_sweep(root, job_id)
    script = f"""
import sys
from streamlit.testing.v1 import AppTest
from ui import launcher
launcher.ensure_worker = lambda cache_dir=None: 0
at = AppTest.from_file("app.py", default_timeout=90).run()
at.query_params["sweep"] = "{sweep['id']}"
at.switch_page("pages/5_Sweeps.py").run()
assert not at.exception, [e.value for e in at.exception]
at.switch_page("pages/1_Experiment.py").run()
at.multiselect(key="sweep_fields").set_value(["pruner.score", "seed"]).run()
assert not at.exception, [e.value for e in at.exception]
assert "torch" not in sys.modules, "torch was imported"
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PRUNELAB_CACHE": str(root)})
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]


def test_run_on_ray_from_the_form(store_dir, no_worker, monkeypatch):
    """*Run on → Ray*: without Ray the form says how to install it and cannot launch; with it the
    sweep is queued for Ray at the given address and its driver (not the worker) is started."""
    from ui import launcher, sweep_form

    root, _ = store_dir
    drivers = []
    monkeypatch.setattr(launcher, "check_executor", lambda executor, address=None: None)
    monkeypatch.setattr(launcher, "ensure_driver", lambda sweep_id, cache_dir=None: drivers.append(sweep_id) or 0)
    monkeypatch.setattr(sweep_form, "ray_installed", lambda: False)
    at = page("1_Experiment")
    at = vary(at, "seed")
    at.text_input(key="sweep:seed:list").input("0, 1").run()
    at.radio(key="sweep_executor").set_value("ray").run()
    no_exception(at)
    assert "pip install -r requirements-ray.txt" in texts(at)
    assert at.button(key="launch_sweep").disabled
    monkeypatch.setattr(sweep_form, "ray_installed", lambda: True)
    at.run()
    assert not at.button(key="launch_sweep").disabled
    at.text_input(key="sweep_ray_address").input("head:6379").run()
    at.button(key="launch_sweep").click().run()
    no_exception(at)
    (sweep,) = JobStore(root).list_sweeps()
    assert sweep["executor"] == "ray" and sweep["address"] == "head:6379"
    assert drivers == [sweep["id"]] and not no_worker
    assert {JobStore(root).get_job(j)["executor"] for j in sweep["jobs"]} == {"ray"}
