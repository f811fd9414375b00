"""Every page under streamlit.testing's AppTest, on a private copy of a store with a finished job.

No worker ever starts (``no_worker`` replaces the launcher's ``ensure_worker``); jobs launched
here stay queued in the temporary store.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest
from streamlit.testing.v1 import AppTest

from pruning_core.jobs.store import JobStore

REPO = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT = 60


def app() -> AppTest:
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)


def page(name: str, **query) -> AppTest:
    at = app().run()
    at.query_params.update(query)
    return at.switch_page(f"pages/{name}.py").run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success])


# ---- home ------------------------------------------------------------------------------------

def test_home_lists_jobs_and_quick_start_launches(store_dir, no_worker):
    root, job_id = store_dir
    at = app().run()
    no_exception(at)
    table = at.dataframe[0].value
    assert list(table["job"]) == [job_id] and list(table["status"]) == ["finished"]
    at.button(key="quick_launch").click().run()
    no_exception(at)
    jobs = JobStore(root).list_jobs()
    new = [j for j in jobs if j["id"] != job_id]
    assert len(new) == 1 and new[0]["status"] == "queued" and new[0]["name"] == "quick start"
    assert new[0]["config"]["dataset"]["name"] == "digits" and new[0]["config"]["repeats"] == 5
    assert no_worker, "the launcher was asked for a worker"
    assert at.query_params["job"] == new[0]["id"]          # we are on the Monitor page of the new job
    assert [t.value for t in at.title] == ["Monitor"]


def test_home_offers_resume_for_interrupted_jobs(store_dir, no_worker):
    root, job_id = store_dir
    store = JobStore(root)
    store.update_job(job_id, status="running", heartbeat=time.time() - 3600)
    at = app().run()
    assert list(at.dataframe[0].value["status"]) == ["interrupted"]
    at.button(key="resume_all").click().run()
    no_exception(at)
    assert store.get_job(job_id)["status"] == "queued" and store.get_job(job_id)["resume"] is True


# ---- experiment ------------------------------------------------------------------------------

def test_experiment_form_hides_options_and_shows_errors_next_to_fields(store_dir, no_worker):
    root, _ = store_dir
    at = page("1_Experiment")
    no_exception(at)
    keys = {w.key for w in at.number_input}
    assert "cfg:algorithm.rounds" in keys and "cfg:training.momentum" not in keys      # nadam: no momentum
    at.selectbox(key="cfg:training.optimizer").select("sgd").run()
    assert "cfg:training.momentum" in {w.key for w in at.number_input}
    # target sparsity replaces the per-round rate
    assert "cfg:algorithm.rate" in {w.key for w in at.number_input}
    at.toggle(key="cfg:algorithm.target_sparsity:set").set_value(True).run()
    assert "cfg:algorithm.rate" not in {w.key for w in at.number_input}
    # a cross-field error is written under the field it names, and Launch is disabled
    at.number_input(key="cfg:algorithm.rewind_epoch").set_value(6).run()
    no_exception(at)
    assert any("allowed: an epoch 0 <= k < training.epochs (6)" in m.value for m in at.markdown)
    assert at.button(key="launch").disabled
    at.number_input(key="cfg:algorithm.rewind_epoch").set_value(2).run()
    assert not at.button(key="launch").disabled
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters"] == "50,610"          # 64·300+300 + 300·100+100 + 100·10+10 (8×8 inputs)
    assert metrics["Search cost"] == "20 ep."                  # 5 rounds × (T − k) = 5 × 4
    assert "Run time (est.)" in metrics
    assert "estimate from 1 finished job" in texts(at)         # measured on the seeded job
    assert len(at.get("plotly_chart")) == 3                    # per round, per epoch, LR
    at.text_input(key="job_name").input("sgd-k2").run()
    at.button(key="launch").click().run()
    no_exception(at)
    job = next(j for j in JobStore(root).list_jobs() if j["name"] == "sgd-k2")
    c = job["config"]
    assert (c["training"]["optimizer"], c["algorithm"]["rewind_epoch"], c["algorithm"]["target_sparsity"]) == \
        ("sgd", 2, 0.9)
    assert job["status"] == "queued" and no_worker


def test_experiment_shows_model_dataset_mismatch_under_the_model(store_dir, no_worker, monkeypatch):
    from ui import data

    def fake_describe(model, dataset, cache_dir):      # e.g. a plug-in model the config cannot judge
        return {"error": f"{model} needs inputs of at least 10x10; dataset gives 8x8"}
    monkeypatch.setattr(data, "describe_soon", fake_describe)
    at = page("1_Experiment")
    at.selectbox(key="cfg:model.name").select("conv6").run()
    no_exception(at)
    assert any("conv6 needs inputs of at least 10x10" in m.value for m in at.markdown)
    assert at.button(key="launch").disabled


# ---- monitor ---------------------------------------------------------------------------------

def test_monitor_shows_a_finished_job_from_the_url(store_dir, no_worker):
    root, job_id = store_dir
    at = page("2_Monitor", job=job_id)
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Status"] == "finished" and metrics["Epochs"] == "16 / 16"
    assert metrics["Device"] == "CPU"
    charts = at.get("plotly_chart")
    assert len(charts) >= 5 + 3                    # live charts + one heatmap per layer
    assert [b.label for b in at.get("download_button")] == ["rounds.csv", "epochs.csv", "summary.json", "masks.zip",
                                                           "config.toml"]
    assert not [b for b in at.button if b.label in ("Cancel", "Resume")]
    assert at.query_params["job"] == job_id
    # |w| of the last round, read from weights/round_<r>.pt by a subprocess (torch stays out of the app)
    at.toggle(key="mask_weights").set_value(True).run()
    no_exception(at)
    heatmaps = [json.loads(c.proto.spec)["data"][0] for c in at.get("plotly_chart")][-3:]
    assert [h["type"] for h in heatmaps] == ["heatmap"] * 3
    assert all(h["colorbar"]["title"]["text"] == "|w|" for h in heatmaps)


def test_monitor_names_the_jobs_a_job_was_trained_together_with(store_dir, no_worker):
    root, job_id = store_dir
    at = page("2_Monitor", job=job_id)
    assert "trained as one batched model" not in texts(at)
    JobStore(root).append_event(job_id, {"type": "run_started", "job": job_id, "repeat": 0, "seed": 0,
                                         "trained_with": ["job-b", "job-c"]})
    at = page("2_Monitor", job=job_id)
    no_exception(at)
    assert "trained as one batched model with 2 other job(s) of its sweep" in texts(at)
    assert "job\\-b" in texts(at) and "job\\-c" in texts(at)       # the ids, shown as text (markdown escaped)


def test_monitor_cancels_a_queued_job_and_resumes_an_interrupted_one(store_dir, no_worker):
    from pruning_core.config import Config

    root, job_id = store_dir
    store = JobStore(root)
    queued = store.create_job(Config().to_dict(), Config().hash())["id"]
    at = page("2_Monitor", job=queued)
    no_exception(at)
    assert {m.label: m.value for m in at.metric}["Status"] == "queued"
    at.button(key="cancel").click().run()
    assert store.get_job(queued)["status"] == "cancelled"
    store.update_job(job_id, status="running", heartbeat=time.time() - 3600, error="KeyboardInterrupt: ",
                     traceback="Traceback (most recent call last):\n  File x\nKeyboardInterrupt")
    at = page("2_Monitor", job=job_id)
    assert {m.label: m.value for m in at.metric}["Status"] == "interrupted"
    assert "KeyboardInterrupt" in at.code[0].value
    at.button(key="resume").click().run()
    assert store.get_job(job_id)["status"] == "queued" and store.get_job(job_id)["resume"] is True


def test_monitor_without_jobs(tmp_path, monkeypatch, no_worker):
    monkeypatch.setenv("PRUNELAB_CACHE", str(tmp_path / "empty"))
    at = page("2_Monitor")
    no_exception(at)
    assert "No jobs yet" in texts(at)


# ---- compare ---------------------------------------------------------------------------------

def test_compare_table_and_mask_similarity_of_seeds(store_dir, no_worker):
    root, job_id = store_dir
    at = page("3_Compare", jobs=job_id)
    no_exception(at)
    table = at.dataframe[0].value
    assert list(table["cost (epochs)"]) == [2] and list(table["speed-up"]) == [1.0]
    jaccard = at.dataframe[1].value
    assert list(jaccard.index) == ["classifier.0.weight", "classifier.2.weight", "classifier.4.weight",
                                   "whole model"]
    assert ((jaccard > 0) & (jaccard < 1)).all().all()         # seeds 0 and 1 keep different weights
    at.button(key="seeds_button").click().run()
    assert at.multiselect(key="compare_jobs").value == [job_id]


# ---- schedules -------------------------------------------------------------------------------

def test_choosing_a_method_picks_its_valid_defaults_in_the_form(store_dir, no_worker):
    at = page("1_Experiment")
    assert at.selectbox(key="cfg:pruner.unit").value == "weight"
    at.selectbox(key="cfg:pruner.score.name").select("activation").run()
    no_exception(at)
    assert at.selectbox(key="cfg:pruner.unit").value == "output_filter"       # IAP: filters, each layer alone
    assert at.selectbox(key="cfg:pruner.grouping").value == "local"
    assert "cfg:pruner.score.batch" in {w.key for w in at.number_input}      # the score's own option
    assert not at.button(key="launch").disabled
    at.selectbox(key="cfg:algorithm.name").select("asni").run()
    keys = {w.key for w in at.number_input}
    assert "cfg:algorithm.rounds" not in keys and "cfg:algorithm.schedule.beta" in keys
    assert any("weight: asni prunes single weights" in m.value for m in at.markdown)   # and says why


def test_a_plugin_file_appears_in_the_form_and_launches(store_dir, no_worker, monkeypatch):
    from pruning_core.registry import unload_plugin
    example = REPO / "examples" / "magnitude_increase.py"
    monkeypatch.setenv("PRUNELAB_PLUGINS", str(example))
    try:
        at = page("1_Experiment")
        no_exception(at)
        assert "magnitude_increase" in at.selectbox(key="cfg:pruner.score.name").options
        at.selectbox(key="cfg:pruner.score.name").select("magnitude_increase").run()
        at.button(key="launch").click().run()
        no_exception(at)
        job = JobStore(store_dir[0]).list_jobs()[0]
        assert job["config"]["pruner"]["score"] == {"name": "magnitude_increase"}
        assert job["plugins"] == [str(example.resolve())]
    finally:
        unload_plugin(example)


def test_a_broken_plugin_is_reported_and_the_app_works(store_dir, no_worker, monkeypatch, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise ImportError('no such thing')\n")
    monkeypatch.setenv("PRUNELAB_PLUGINS", str(broken))
    at = page("1_Experiment")
    no_exception(at)
    assert any(str(broken) in e.value and "ImportError" in e.value for e in at.error)
    assert not at.button(key="launch").disabled


# ---- schedules -------------------------------------------------------------------------------

def test_schedules_redraw_and_copy_into_experiment(store_dir, no_worker):
    at = page("4_Schedules")
    no_exception(at)
    assert len(at.get("plotly_chart")) == 5            # sigmoid, polynomial, geometric, overlay, LR policies
    lr = json.loads(at.get("plotly_chart")[-1].proto.spec)["data"]
    assert {t["name"] for t in lr} >= {"replay", "ft", "allr"}
    at.slider(key="geo_rounds").set_value(7).run()
    at.slider(key="geo_rate").set_value(0.3).run()
    at.selectbox(key="lr_policy").select("slr").run()
    assert "After 7 rounds: 91.76% pruned" in texts(at)
    at.button(key="copy").click().run()
    no_exception(at)
    assert [t.value for t in at.title] == ["Experiment"]
    assert at.number_input(key="cfg:algorithm.rounds").value == 7
    assert at.number_input(key="cfg:algorithm.rate").value == pytest.approx(0.3)
    assert at.number_input(key="cfg:training.epochs").value == 30
    assert at.selectbox(key="cfg:algorithm.lr_policy.name").value == "slr"
    assert at.selectbox(key="cfg:algorithm.treatment").value == "keep"
    assert "Copied from the Schedules playground" in texts(at)


def test_schedules_copy_the_sigmoid_into_an_asni_experiment(store_dir, no_worker):
    at = page("4_Schedules")
    at.toggle(key="play:sigmoid:algorithm.schedule.target_sparsity:set").set_value(False).run()
    assert "set alpha" in texts(at)                       # neither target nor α: the schedule says what it needs
    at.toggle(key="play:sigmoid:algorithm.schedule.alpha:set").set_value(True).run()
    at.number_input(key="play:sigmoid:algorithm.schedule.alpha").set_value(0.7).run()
    no_exception(at)
    at.radio(key="copy_which").set_value("asni").run()
    at.button(key="copy").click().run()
    no_exception(at)
    assert at.selectbox(key="cfg:algorithm.name").value == "asni"
    assert at.number_input(key="cfg:algorithm.schedule.alpha").value == pytest.approx(0.7)
    assert at.number_input(key="cfg:training.epochs").value == 60
    assert "cfg:algorithm.rounds" not in {w.key for w in at.number_input}     # rounds do not apply to asni
    assert not at.button(key="launch").disabled


# ---- the app process stays free of torch -----------------------------------------------------

def test_pages_never_import_torch(store_dir):
    """Run every page in a fresh interpreter and check that torch was never imported."""
    root, job_id = store_dir
    script = f"""
import sys
from streamlit.testing.v1 import AppTest
from ui import launcher
launcher.ensure_worker = lambda cache_dir=None: 0
at = AppTest.from_file("app.py", default_timeout=60).run()
for name in ["1_Experiment", "2_Monitor", "3_Compare", "4_Schedules"]:
    at.query_params["job"] = "{job_id}"
    at.switch_page("pages/" + name + ".py").run()
    assert not at.exception, (name, [e.value for e in at.exception])
assert "torch" not in sys.modules, "torch was imported"
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PRUNELAB_CACHE": str(root)})
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]
