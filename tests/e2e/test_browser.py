"""End to end in a real browser: ``streamlit run`` on a free port, Playwright driving Debian's Chromium.

The scenario: open the app, launch the quick-start experiment, watch the accuracy-vs-remaining-
weights chart gain a point without reloading, reload and still see the job, launch a second job
from the Experiment page and cancel it, edit it as new, time the Experiment form, delete the
cancelled job from Home. Screenshots of every page go to a temporary folder, or to
``docs/screenshots/`` (the README's pictures) with ``PRUNELAB_UPDATE_SCREENSHOTS=1``.
Streamlit and every worker it started are killed at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.e2e

REPO = pathlib.Path(__file__).resolve().parents[2]
CHROMIUM = pathlib.Path("/usr/bin/chromium")
SHOTS = (REPO / "docs" / "screenshots" if os.environ.get("PRUNELAB_UPDATE_SCREENSHOTS") == "1"
         else pathlib.Path(tempfile.gettempdir()) / "prunelab-screenshots")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTH = 1400

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:                                  # pragma: no cover - depends on the machine
    sync_playwright = None

if sync_playwright is None:
    pytest.skip("playwright (the Python package) is not installed", allow_module_level=True)
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

# A second experiment for the comparison: learning-rate rewinding on the same network, run by the
# engine before the app starts (3 seeds, 1 retraining epoch per round: a few seconds).
SEED = ["--set", "algorithm.rewind=lr", "--set", "algorithm.rounds=20", "--set", "repeats=3"]

POINTS_JS = """() => {
  for (const d of document.querySelectorAll('.js-plotly-plot')) {
    const title = d.layout && d.layout.title && String(d.layout.title.text || '');
    if (!title.includes('weights remaining')) continue;
    const lines = (d._fullData || []).filter(t => t.mode === 'lines+markers');
    return lines.length ? Math.max(...lines.map(t => t.x.length)) : 0;
  }
  return 0;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@contextlib.contextmanager
def streamlit_app(tmp_path: pathlib.Path, cache: pathlib.Path, env: dict):
    """``streamlit run app.py`` on a free local port, healthy before it yields its URL; Streamlit
    and every worker it started are killed afterwards."""
    from ui import launcher

    port = free_port()
    log = open(tmp_path / "streamlit.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.time() < deadline, (tmp_path / "streamlit.log").read_text()
            time.sleep(0.3)
        yield url
    finally:
        kill_group(proc.pid)
        for pid in launcher.worker_pids(cache):
            kill_group(pid)
        log.close()


@pytest.fixture
def server(tmp_path):
    """``streamlit run app.py`` on a free port with a private store; yields (url, cache dir)."""
    cache = tmp_path / "cache"
    env = {**os.environ, "PRUNELAB_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    seed = subprocess.run([sys.executable, "-m", "pruning_core", "--cache", str(cache), "run", *SEED, "--quiet"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert seed.returncode == 0, seed.stderr
    with streamlit_app(tmp_path, cache, env) as url:
        yield url, cache


def settle(page, seconds: float = 1.5) -> None:
    """Wait until Streamlit is not running the script and the charts had time to draw."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    time.sleep(seconds)


STATE_JS = """() => {
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  const shown = charts.filter(c => c.getBoundingClientRect().height > 10);
  const ok = shown.length === charts.length && shown.every(c => {
    const svg = c.querySelector('.main-svg'); return svg && svg.getBoundingClientRect().height > 10; });
  const stamp = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .map(e => e.textContent).find(t => t.includes('updated')) || '';
  return {ok, stamp, n: charts.length};
}"""


def screenshot(page, name: str) -> None:
    """The whole page: the viewport grows to the height of Streamlit's scrolling main area. A live
    page redraws every second, so the picture is kept only when every chart was drawn before and
    after it and no refresh happened in between."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": min(max(int(height) + 40, 900), 5000)})
    time.sleep(1.5)
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = str(SHOTS / f"{name}.png")
    for _ in range(30):
        before = page.evaluate(STATE_JS)
        if before["ok"]:
            page.screenshot(path=path)
            after = page.evaluate(STATE_JS)
            if after == before:
                break
        time.sleep(0.2)
    else:
        page.screenshot(path=path)
    page.set_viewport_size({"width": WIDTH, "height": 900})


def wait_points(page, more_than: int, timeout: float) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        n = page.evaluate(POINTS_JS)
        if n > more_than:
            return n
        time.sleep(0.25)
    raise AssertionError(f"the accuracy chart did not grow beyond {more_than} points in {timeout} s")


def test_launch_watch_reload_cancel(server):
    from pruning_core.jobs.store import JobStore

    url, cache = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.goto(url)
            page.get_by_role("button", name="Launch").click()
            page.wait_for_url("**/Monitor?job=*", timeout=60_000)
            job = page.url.split("job=")[1]

            # the chart gains points while we watch, without reloading
            first = wait_points(page, 0, timeout=90)
            url_before = page.url
            second = wait_points(page, first, timeout=60)
            assert second > first and page.url == url_before

            # a reload returns to the same job, still drawing
            page.reload()
            page.get_by_text(job).first.wait_for(timeout=30_000)
            assert job in page.url
            wait_points(page, 0, timeout=30)

            # a second job from the Experiment page, cancelled while it waits behind the first
            page.goto(url + "/Experiment")
            rounds = page.get_by_label("Rounds", exact=True)
            rounds.fill("3")
            rounds.press("Enter")
            page.get_by_text("Planned sparsity after each round").first.wait_for(timeout=120_000)
            settle(page)
            screenshot(page, "experiment")
            page.get_by_role("button", name="Launch").click()
            page.wait_for_url(lambda u: "job=" in u and job not in u, timeout=60_000)
            second_job = page.url.split("job=")[1]
            page.get_by_role("button", name="Cancel").click()
            page.get_by_test_id("stMetricValue").filter(has_text="cancelled").wait_for(timeout=60_000)

            # Edit as new: the cancelled job's config (3 rounds) opens in the form
            page.get_by_role("button", name="Edit as new").click()
            page.get_by_text("Form loaded from job").wait_for(timeout=60_000)
            expect(page.get_by_label("Rounds", exact=True)).to_have_value("3", timeout=60_000)

            # the Experiment form once its page has been seen: drawn in (measured) seconds
            started = time.time()
            page.goto(url + "/Experiment")
            page.get_by_label("Rounds", exact=True).wait_for(timeout=60_000)
            form_seconds = time.time() - started
            print(f"Experiment form drawn {form_seconds:.2f} s after navigation (load average "
                  f"{os.getloadavg()[0]:.1f})")
            (SHOTS / "timings.txt").parent.mkdir(parents=True, exist_ok=True)
            (SHOTS / "timings.txt").write_text(f"experiment_form_seconds {form_seconds:.3f}\n")

            # delete the cancelled job from Home: picked, confirmed, gone with its run folder
            page.goto(url)
            page.get_by_text("Delete jobs").click()
            page.get_by_label("Jobs to delete").click()
            page.keyboard.type(second_job)
            page.keyboard.press("Enter")
            page.get_by_text("this cannot be undone").click()
            page.get_by_role("button", name="Delete", exact=True).click()
            deadline = time.time() + 30
            while second_job in JobStore(cache).job_ids() and time.time() < deadline:
                time.sleep(0.2)
            assert second_job not in JobStore(cache).job_ids() and not (cache / "runs" / second_job).exists()

            page.goto(url + "/Schedules")
            page.get_by_text("Retraining LR policies").wait_for(timeout=60_000)
            settle(page)
            screenshot(page, "schedules")

            # back to the first job, still running (or done, on a fast machine)
            page.goto(f"{url}/Monitor?job={job}")
            wait_points(page, 2, timeout=60)
            settle(page, 2.0)
            screenshot(page, "monitor")

            page.goto(url + "/Compare")
            page.get_by_text("Mask similarity").wait_for(timeout=60_000)
            settle(page, 2.5)
            screenshot(page, "compare")

            page.goto(url)
            page.get_by_text("Quick start").wait_for(timeout=30_000)
            settle(page)
            screenshot(page, "home")
        finally:
            browser.close()

    store = JobStore(cache)
    assert second_job not in store.job_ids()
    assert store.event_count(job) > 0
