"""A sweep end to end in a real browser: ``streamlit run`` on a free port with an empty store,
Playwright driving Debian's Chromium (the helpers of ``test_browser.py``).

The scenario: on the Experiment page make a tiny digits experiment (2 rounds), vary the score
(magnitude, random) and the seed (0, 1: the one-click button), launch the 2 × 2 sweep, land on its
view and watch the status and the heatmap of final accuracy fill without reloading until all 4
jobs have finished. The sweep view's screenshot goes to ``docs/screenshots/sweep.png`` with
``PRUNELAB_UPDATE_SCREENSHOTS=1``. Streamlit and every worker it started are killed at the end.
"""

from __future__ import annotations

import os
import time

import pytest

from test_browser import ARGS, CHROMIUM, WIDTH, screenshot, settle, streamlit_app, sync_playwright

pytestmark = pytest.mark.e2e

# finite cells of the heatmap of final accuracy (0 while it is not drawn)
CELLS_JS = """() => {
  for (const d of document.querySelectorAll('.js-plotly-plot')) {
    const title = d.layout && d.layout.title && String(d.layout.title.text || '');
    if (!title.includes('Final test accuracy')) continue;
    const z = (d._fullData || [])[0] && d._fullData[0].z;
    if (!z) return 0;
    return Array.from(z).reduce((n, row) => n + Array.from(row).filter(v => v !== null && isFinite(v)).length, 0);
  }
  return 0;
}"""

# the "Finished k / n" metric of the sweep view
FINISHED_JS = """() => {
  for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
    const label = m.querySelector('[data-testid="stMetricLabel"]');
    if (label && label.textContent.trim() === 'Finished') {
      return m.querySelector('[data-testid="stMetricValue"]').textContent.trim();
    }
  }
  return '';
}"""


@pytest.fixture
def app_server(tmp_path):
    """``streamlit run app.py`` on a free port with an empty private store; yields (url, cache dir)."""
    cache = tmp_path / "cache"
    env = {**os.environ, "PRUNELAB_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    with streamlit_app(tmp_path, cache, env) as url:
        yield url, cache


def choose(page, label: str, option: str) -> None:
    """Add ``option`` to the multiselect labelled ``label`` (type to filter, Enter to pick)."""
    box = page.get_by_label(label, exact=True)
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option).first.click()
    page.keyboard.press("Escape")
    settle(page, 0.5)


def test_launch_a_2x2_sweep_and_watch_it_fill(app_server):
    url, cache = app_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.goto(url + "/Experiment")
            rounds = page.get_by_label("Rounds", exact=True)
            rounds.fill("2")
            rounds.press("Enter")
            settle(page, 0.5)

            # vary the score: magnitude (the form's) and random
            choose(page, "Vary fields", "Score (pruner.score)")
            choose(page, "Score: values", "random")
            # and the seed, in one click: seeds 0 … n − 1 with n = 2
            n = page.get_by_label("n", exact=True)
            n.fill("2")
            n.press("Enter")
            settle(page, 0.5)
            page.get_by_role("button", name="Seeds 0…n−1").click()
            launch = page.get_by_role("button", name="Launch sweep (4 jobs)")
            launch.wait_for(timeout=120_000)
            settle(page)
            launch.click()

            page.wait_for_url("**/Sweeps?sweep=*", timeout=60_000)
            sweep_id = page.url.split("sweep=")[1]
            page.evaluate("() => { window.__sameDocument = true; }")     # gone if the page reloads

            # the grid fills while we watch: cells appear one job at a time, all 4 jobs finish
            seen_cells, seen_finished = set(), set()
            deadline = time.time() + 300
            while time.time() < deadline:
                seen_cells.add(page.evaluate(CELLS_JS))
                finished = page.evaluate(FINISHED_JS)
                seen_finished.add(finished)
                if finished == "4 / 4" and 4 in seen_cells:
                    break
                time.sleep(0.25)
            else:
                raise AssertionError(f"the sweep did not finish in time: finished {sorted(seen_finished)}, "
                                     f"heatmap cells {sorted(seen_cells)}")
            assert page.evaluate("() => window.__sameDocument === true"), "the page reloaded"
            assert sweep_id in page.url
            assert len(seen_finished - {""}) >= 2, seen_finished           # it changed while we watched
            settle(page, 2.5)
            screenshot(page, "sweep")
        finally:
            browser.close()

    from pruning_core.jobs.store import JobStore

    store = JobStore(cache)
    sweep = store.get_sweep(sweep_id)
    jobs = [store.get_job(j) for j in sweep["jobs"]]
    assert len(jobs) == 4 and {j["status"] for j in jobs} == {"finished"}
    assert {(j["axes"]["pruner.score"], j["axes"]["seed"]) for j in jobs} == \
        {("magnitude", 0), ("magnitude", 1), ("random", 0), ("random", 1)}
