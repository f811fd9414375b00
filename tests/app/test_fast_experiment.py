"""A fast Experiment page (issue 12): on a fresh store the form and the plan draw at once, while
the model's parameter counts are inspected in a subprocess (torch takes seconds to import); they
fill in on a later run and are remembered on disk for every later visit."""

from __future__ import annotations

import pathlib
import time

from streamlit.testing.v1 import AppTest

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_the_form_draws_before_the_model_is_inspected(tmp_path, monkeypatch, no_worker):
    from ui import data

    root = tmp_path / "cache"
    monkeypatch.setenv("PRUNELAB_CACHE", str(root))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at = at.switch_page("pages/1_Experiment.py").run()
    assert not at.exception
    facts_file = root / "store" / "describe.json"
    assert not facts_file.exists()                                  # drawn without waiting for it
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters"] == "…" and metrics["Search cost"] == "5 ep."       # the plan is there
    assert any("inspecting lenet300_100 on digits" in c.value.replace("\\", "") for c in at.caption)
    deadline = time.time() + 120
    while data.describe_soon("lenet300_100", "digits", root) is None and time.time() < deadline:
        time.sleep(0.2)
    assert facts_file.exists()
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters"] == "50,610"                        # 64·300+300 + 300·100+100 + 100·10+10
    assert not any("inspecting" in c.value for c in at.caption)
