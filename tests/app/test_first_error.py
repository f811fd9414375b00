"""A sensible first error (issue 12): a model and dataset that do not fit (LeNet-5 on 8×8 digits)
are refused by the config itself, so the form marks the model field at once, without inspecting
the model in a subprocess, and nothing can be queued."""

from __future__ import annotations

import pathlib

from streamlit.testing.v1 import AppTest

from pruning_core.jobs.store import JobStore

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_lenet5_on_digits_is_refused_in_the_form_before_anything_is_queued(store_dir, no_worker, monkeypatch):
    from ui import data

    root, job_id = store_dir
    asked = []
    monkeypatch.setattr(data, "describe", lambda *a, **k: asked.append(a) or {"error": "not asked"})
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at = at.switch_page("pages/1_Experiment.py").run()
    at.selectbox(key="cfg:model.name").select("lenet5").run()
    assert not at.exception
    shown = "\n".join(m.value for m in [*at.markdown, *at.error, *at.caption])
    assert "8x8 images of digits" in shown and "lenet5 needs at least 10x10" in shown
    assert at.button(key="launch").disabled
    assert JobStore(root).job_ids() == [job_id]
