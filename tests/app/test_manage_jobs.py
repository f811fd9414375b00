"""Managing jobs in the app (issue 12): Home filters the jobs by text and tags, shows the store's
size, and deletes picked jobs after a confirmation (their run folders too); Monitor saves a job's
labels (a bad tag is named) and offers its complete config as TOML that loads back unchanged."""

from __future__ import annotations

import pathlib
import shutil
import tomllib

from streamlit.testing.v1 import AppTest

from pruning_core.config import Config
from pruning_core.jobs.store import JobStore

REPO = pathlib.Path(__file__).resolve().parents[2]


def app() -> AppTest:
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=60)


def unescaped(text: str) -> str:
    """Page text without the backslashes that keep outside text from being read as Markdown."""
    return text.replace("\\", "")


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def copy_job(root: pathlib.Path, job_id: str, name: str, tags: list[str]) -> str:
    """A second finished job: the seeded one's record, events and run folder under a new id."""
    store = JobStore(root)
    record = store.get_job(job_id)
    new = store.create_job(record["config"], record["config_hash"], status="finished", name=name)["id"]
    for event in store.events(job_id):
        store.append_event(new, event)
    shutil.rmtree(store.run_dir(new).root)
    shutil.copytree(store.run_dir(job_id).root, store.run_dir(new).root)
    store.update_job(new, tags=tags)
    return new


def test_home_filters_by_text_and_tag_and_shows_the_store_size(store_dir, no_worker):
    root, job_id = store_dir
    other = copy_job(root, job_id, "lenet baseline", ["baseline"])
    at = app().run()
    no_exception(at)
    assert set(at.dataframe[0].value["job"]) == {job_id, other}
    assert " on disk" in "\n".join(c.value for c in at.caption)
    at.multiselect(key="job_filter_tags").set_value(["baseline"]).run()
    assert list(at.dataframe[0].value["job"]) == [other]
    assert list(at.dataframe[0].value["tags"]) == ["#baseline"]
    at.multiselect(key="job_filter_tags").set_value([]).run()
    at.text_input(key="job_filter_text").input("no such text").run()
    assert "No job matches the filter." in [i.value for i in at.info]


def test_home_deletes_picked_jobs_after_confirmation(store_dir, no_worker):
    root, job_id = store_dir
    other = copy_job(root, job_id, "to delete", [])
    at = app().run()
    at.multiselect(key="delete_jobs").set_value([other]).run()
    assert at.button(key="delete_go").disabled                      # not yet confirmed
    at.checkbox(key="delete_sure").check().run()
    at.button(key="delete_go").click().run()
    no_exception(at)
    store = JobStore(root)
    assert store.job_ids() == [job_id] and not store.run_dir(other).root.exists()
    assert store.run_dir(job_id).root.exists()
    assert list(at.dataframe[0].value["job"]) == [job_id]


def test_monitor_saves_labels_and_offers_the_config_as_toml(store_dir, no_worker):
    from ui.monitor import config_toml

    root, job_id = store_dir
    at = app().run()
    at.query_params["job"] = job_id
    at = at.switch_page("pages/2_Monitor.py").run()
    no_exception(at)
    key = f"labels:{job_id}"
    at.text_input(key=key + ":tags").input("base, x,y").run()
    at.button(key=key + ":save").click().run()                      # "x,y" splits into two tags: fine
    assert JobStore(root).get_job(job_id)["tags"] == ["base", "x", "y"]
    at.text_input(key=key + ":name").input("my run").run()
    at.text_input(key=key + ":tags").input("t" * 41).run()
    at.button(key=key + ":save").click().run()
    no_exception(at)
    assert any("tags" in e.value and "40 characters" in unescaped(e.value) for e in at.error)
    assert JobStore(root).get_job(job_id)["name"] != "my run"       # nothing half-saved
    at.text_input(key=key + ":tags").input("base").run()
    at.text_area(key=key + ":note").input("first try").run()
    at.button(key=key + ":save").click().run()
    record = JobStore(root).get_job(job_id)
    assert (record["name"], record["tags"], record["note"]) == ("my run", ["base"], "first try")
    text = config_toml(record)
    assert text.startswith(f"# Prunelab job {job_id} (my run)")
    assert Config.from_dict(tomllib.loads(text)).hash() == record["config_hash"]


def test_edit_as_new_opens_the_jobs_config_in_the_form(store_dir, no_worker):
    root, job_id = store_dir
    at = app().run()
    at.query_params["job"] = job_id
    at = at.switch_page("pages/2_Monitor.py").run()
    at.button(key="edit_as_new").click().run()
    no_exception(at)
    assert [t.value for t in at.title] == ["Experiment"]
    assert any(f"Form loaded from job {job_id}" in unescaped(i.value) for i in at.info)
    assert at.number_input(key="cfg:algorithm.rounds").value == 2           # the seeded job: 2 rounds,
    assert at.number_input(key="cfg:repeats").value == 2                    # 2 seeds (the defaults: 5, 1)
    at = at.switch_page("pages/1_Experiment.py").run()      # AppTest's next run would return to Monitor
    assert at.number_input(key="cfg:algorithm.rounds").value == 2           # the draft stays loaded
    at.number_input(key="cfg:algorithm.rounds").set_value(3).run()
    at.button(key="launch").click().run()
    no_exception(at)
    new = [j for j in JobStore(root).list_jobs() if j["id"] != job_id]
    assert len(new) == 1 and new[0]["config"]["algorithm"]["rounds"] == 3 and new[0]["config"]["repeats"] == 2


def test_a_pasted_config_loads_and_a_bad_one_is_refused_by_field(store_dir, no_worker):
    at = app().run()
    at = at.switch_page("pages/1_Experiment.py").run()
    at.text_area(key="config_paste").input('[algorithm]\nrounds = "many"\n').run()
    at.button(key="config_load").click().run()
    no_exception(at)
    assert any("algorithm.rounds: got 'many'" in unescaped(e.value) and "form is unchanged" in e.value for e in at.error)
    assert at.number_input(key="cfg:algorithm.rounds").value == 5
    at.text_area(key="config_paste").input('{"algorithm": {"rounds": 7}, "seed": 3}').run()
    at.radio(key="config_paste_format").set_value("json").run()
    at.button(key="config_load").click().run()
    no_exception(at)
    assert at.number_input(key="cfg:algorithm.rounds").value == 7 and at.number_input(key="cfg:seed").value == 3
    assert any("Form loaded from the pasted text" in unescaped(i.value) for i in at.info)
    at.text_area(key="config_paste").input("[algorithm\n").run()
    at.radio(key="config_paste_format").set_value("toml").run()
    at.button(key="config_load").click().run()
    assert any("not valid TOML" in unescaped(e.value) for e in at.error)
    assert at.number_input(key="cfg:algorithm.rounds").value == 7
