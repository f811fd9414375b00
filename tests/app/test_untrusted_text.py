"""Text from outside the code — the URL's parameters, job names — is shown as text: no markdown link
or image in Streamlit's elements, no HTML link in a Plotly chart."""

from __future__ import annotations

import json
import pathlib
import re

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pruning_core.jobs.store import JobStore
from ui import figures
from ui.text import chart, plain

REPO = pathlib.Path(__file__).resolve().parents[2]
LINK = "[x](http://evil)![i](http://evil/i.png)"
HTML_NAME = '<a href="http://evil">x</a>'
MARKDOWN_NAME = "[click](http://evil) **bold** `code` :red[red] $x^2$ <b>b</b>"


def page(name: str, **query) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.query_params.update(query)
    return at.switch_page(f"pages/{name}.py").run()


def literal(markdown: str) -> str:
    """What markdown shows for text whose punctuation is backslash-escaped."""
    return re.sub(r"\\(.)", r"\1", markdown)


def unescaped_markup(markdown: str) -> list[str]:
    """Markdown/HTML characters that are not backslash-escaped (they would act as markup)."""
    return re.findall(r"(?<!\\)[\[\]()!<>`*_$]", markdown)


def bodies(at: AppTest) -> list[str]:
    return [m.value for m in [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success]]


def chart_json(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


# ---- the helpers -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", [LINK, HTML_NAME, MARKDOWN_NAME, "# heading\n- item\n1. one", "a\\b"])
def test_plain_escapes_every_markup_character_and_keeps_the_text(text):
    shown = plain(text)
    assert literal(shown) == text
    assert unescaped_markup(shown) == []


def test_chart_turns_tags_into_entities():
    assert chart(HTML_NAME) == '&lt;a href="http://evil"&gt;x&lt;/a&gt;'
    assert chart("a & b") == "a &amp; b"


# ---- the URL parameter on the Monitor page ----------------------------------------------------

def test_a_crafted_job_parameter_is_shown_literally(store_dir, no_worker):
    root, job_id = store_dir
    at = page("2_Monitor", job=LINK)
    assert not at.exception, [e.value for e in at.exception]
    warning = next(w.value for w in at.warning if "No job" in w.value)
    assert literal(warning) == f"No job {LINK} in this store; showing the newest instead."
    assert unescaped_markup(warning) == []                  # no link, no image: every bracket is text
    assert not [b for b in bodies(at) if "](http" in b]      # nowhere on the page as live markdown
    assert {m.label: m.value for m in at.metric}["Status"] == "finished"      # the newest job instead


# ---- job names in figures and on the pages ---------------------------------------------------

def _rounds() -> pd.DataFrame:
    return pd.DataFrame({"repeat": [0, 0, 1, 1], "round": [0, 1, 0, 1], "remaining_fraction": [1.0, 0.8, 1.0, 0.8],
                         "test_accuracy": [0.9, 0.88, 0.91, 0.87]})


def _texts(fig) -> list[str]:
    """Every trace name, the title and every category label of a figure."""
    spec = fig.to_plotly_json()
    names = [t.get("name") or "" for t in spec["data"]]
    categories = [str(x) for t in spec["data"] for x in (t.get("x") if isinstance(t.get("x"), list) else [])]
    title = ((spec["layout"].get("title") or {}).get("text")) or ""
    return names + categories + [title]


@pytest.mark.parametrize("build", [
    lambda n: figures.accuracy_vs_remaining({n: _rounds()}, title=n),
    lambda n: figures.jaccard_bars(pd.DataFrame({n: [0.1, 0.2]}, index=[n, "whole model"]), title=n),
    lambda n: figures.layer_sparsity_bars({n: 0.5}, 0.5, title=n),
    lambda n: figures.lr_schedule({n: ([0, 1], [0.1, 0.1])}, title=n),
    lambda n: figures.curve_figure({n: ([0, 1], [0.1, 0.2])}, n, "x"),
    lambda n: figures.mask_heatmap(np.ones((2, 3), dtype=bool), name=n),
], ids=["accuracy", "jaccard", "layer_sparsity", "lr", "curves", "mask"])
def test_figures_escape_user_text(build):
    texts = _texts(build(HTML_NAME))
    assert any("&lt;a href" in t for t in texts)
    assert not [t for t in texts if "<a" in t or "</a" in t]


def test_a_job_named_with_html_draws_no_link_on_monitor_and_compare(store_dir, no_worker):
    root, job_id = store_dir
    JobStore(root).update_job(job_id, name=HTML_NAME)
    for at in (page("2_Monitor", job=job_id), page("3_Compare", jobs=job_id)):
        assert not at.exception, [e.value for e in at.exception]
        specs = chart_json(at)
        names = [t.get("name") or "" for s in specs for t in s["data"]]
        assert any(n.startswith("&lt;a href") for n in names), names
        assert "<a" not in json.dumps(specs)


def test_a_job_named_with_markdown_draws_no_link(store_dir, no_worker):
    root, job_id = store_dir
    JobStore(root).update_job(job_id, name=MARKDOWN_NAME)
    for at in (page("2_Monitor", job=job_id), page("3_Compare", jobs=job_id), page("2_Monitor", job="nope")):
        assert not at.exception, [e.value for e in at.exception]
        assert not [b for b in bodies(at) if "](http" in b or "<b>" in b]
