"""The Experiment page's recipe picker under AppTest: the page starts from the quick start, picking
a recipe fills the form, the fields it set are listed, and a model + dataset with a recipe offer it.

``describe`` (a torch subprocess per model and dataset) is replaced by a fixed answer, so choosing
MNIST or CIFAR-10 models neither starts torch nor needs the data.
"""

from __future__ import annotations

import pathlib

import pytest
from streamlit.testing.v1 import AppTest

from pruning_core.jobs.store import JobStore
from pruning_core.recipes import get_recipe

REPO = pathlib.Path(__file__).resolve().parents[2]


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    return at.switch_page(f"pages/{name}.py").run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success])


@pytest.fixture
def fake_describe(monkeypatch):
    from ui import data

    def describe(model, dataset, cache_dir, timeout=300.0):
        return {"n_params": 1000, "n_prunable": 900, "layers": [], "dataset": {"n_train": 60000}}
    monkeypatch.setattr(data, "describe", describe)


def set_by_recipe(at) -> str:
    """The text of the "Set by recipe" expander."""
    box = next(e for e in at.expander if e.label.startswith("Set by recipe"))
    return "\n".join(m.value for m in box.markdown)


def test_the_page_starts_from_the_quick_start(store_dir, no_worker):
    at = page("1_Experiment")
    no_exception(at)
    assert at.selectbox(key="recipe_pick").value == "quickstart"
    assert at.number_input(key="cfg:algorithm.rounds").value == 5             # the engine defaults
    assert at.number_input(key="cfg:algorithm.rewind_epoch").value == 5
    assert at.number_input(key="cfg:repeats").value == 1
    assert at.selectbox(key="cfg:dataset.name").value == "digits"
    listed = set_by_recipe(at)
    assert "`algorithm.rounds` = `5`" in listed and '`dataset.name` = `"digits"`' in listed
    assert "always available offline" in texts(at) and not at.warning       # offline: no download hint
    assert not [b for b in at.button if str(b.key).startswith("use_recipe:")]   # nothing else to offer
    at.selectbox(key="recipe_pick").select("lottery_quickstart").run()        # the Home page's launch
    no_exception(at)
    assert at.number_input(key="cfg:algorithm.rounds").value == 20
    assert at.number_input(key="cfg:algorithm.rewind_epoch").value == 0
    assert at.number_input(key="cfg:repeats").value == 5


def test_picking_a_recipe_fills_the_form_and_lists_its_fields(store_dir, no_worker, fake_describe):
    at = page("1_Experiment")
    at.number_input(key="cfg:repeats").set_value(3).run()
    at.selectbox(key="recipe_pick").select("paganini_lenet5_mnist").run()
    no_exception(at)
    assert at.selectbox(key="cfg:model.name").value == "lenet5"
    assert at.selectbox(key="cfg:dataset.name").value == "mnist"
    assert at.selectbox(key="cfg:training.optimizer").value == "sgd"
    assert at.number_input(key="cfg:training.lr").value == pytest.approx(0.01)
    assert at.number_input(key="cfg:training.batch_size").value == 32
    assert at.number_input(key="cfg:training.epochs").value == 30
    assert at.number_input(key="cfg:training.momentum").value == 0.0
    assert at.selectbox(key="cfg:pruner.grouping").value == "local"
    assert at.number_input(key="cfg:repeats").value == 1                 # the form was reset to the defaults
    listed = set_by_recipe(at)
    for key in get_recipe("paganini_lenet5_mnist").fields():
        assert f"`{key}`" in listed
    assert any("MNIST is not available offline" in w.value for w in at.warning)   # how to get the data
    assert "Paganini" in texts(at)                                               # the source
    # a field changed after picking is marked in the list
    at.number_input(key="cfg:training.epochs").set_value(3).run()
    assert "`training.epochs` = `30` — :orange[now 3]" in set_by_recipe(at)
    at.button(key="launch").click().run()
    no_exception(at)
    job = JobStore(store_dir[0]).list_jobs()[0]
    assert (job["config"]["model"]["name"], job["config"]["training"]["batch_size"],
            job["config"]["training"]["epochs"]) == ("lenet5", 32, 3)


def test_a_model_and_dataset_with_a_recipe_offer_it(store_dir, no_worker, fake_describe):
    at = page("1_Experiment")
    at.selectbox(key="cfg:dataset.name").select("mnist").run()
    no_exception(at)
    offered = {b.key for b in at.button if str(b.key).startswith("use_recipe:")}
    assert offered == {"use_recipe:openlth_lenet300_mnist", "use_recipe:iap_lenet300_mnist",
                       "use_recipe:asni_lenet300_mnist"}
    assert any("openlth_lenet300_mnist" in i.value for i in at.info)
    at.button(key="use_recipe:openlth_lenet300_mnist").click().run()
    no_exception(at)
    assert at.selectbox(key="recipe_pick").value == "openlth_lenet300_mnist"
    assert at.selectbox(key="cfg:training.optimizer").value == "sgd"
    assert at.number_input(key="cfg:training.lr").value == pytest.approx(0.1)
    assert at.number_input(key="cfg:training.batch_size").value == 128
    assert at.number_input(key="cfg:training.epochs").value == 40
    assert at.number_input(key="cfg:pruner.output_rate").value == 0.0
    assert not [b for b in at.button if str(b.key).startswith("use_recipe:")]    # applied: no longer offered
    assert "`pruner.output_rate` = `0.0`" in set_by_recipe(at)


def test_values_copied_from_the_schedules_page_win_over_the_quick_start(store_dir, no_worker):
    at = page("4_Schedules")
    at.slider(key="geo_rounds").set_value(7).run()
    at.button(key="copy").click().run()
    no_exception(at)
    assert at.selectbox(key="recipe_pick").value == "quickstart"
    assert at.number_input(key="cfg:algorithm.rounds").value == 7                # copied
    assert "`algorithm.rounds` = `5` — :orange[now 7]" in set_by_recipe(at)
