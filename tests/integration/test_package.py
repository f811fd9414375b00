"""The wheel: it carries the engine, the launcher and the app, declares the `prunelab` command, and
both a run and the app work from the installed files outside the repository.

The wheel is built from a copy of this checkout (``pip wheel --no-deps --no-build-isolation``: no
download; the copy leaves out .venv, .git, the stores and old build output, so no stale ``build/``
folder can add files and the checkout gets none) and installed with ``pip install --no-deps
--target``: a folder with nothing but the wheel's files and its console script. Every check then
runs in a subprocess whose working directory is a temporary folder and whose ``PYTHONPATH`` is that
folder alone, so ``pruning_core``, ``prunelab`` and ``ui`` can come only from the wheel; torch,
streamlit and the rest come from this interpreter's environment (a fresh venv would download 2 GB
of them).
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
NOT_SOURCE = (".venv", ".git", ".hypothesis", "cache", "results", "build", "dist", "*.egg-info", "__pycache__")


def requirement_lines(name: str) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in (REPO / name).read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def normalized(requirement: str) -> tuple[str, frozenset[str]]:
    """(name, {specifiers}) of a requirement line or a Requires-Dist value, order-free."""
    requirement = requirement.split(";", 1)[0].strip()
    name, spec = re.match(r"([A-Za-z0-9_.\-\[\]]+)\s*(.*)", requirement).groups()
    return name.lower(), frozenset(s.strip() for s in spec.split(",") if s.strip())


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the wheel, install it into a bare folder; {wheel, target, env, cwd}."""
    root = tmp_path_factory.mktemp("package")
    source, wheels, target, cwd = root / "source", root / "wheels", root / "site", root / "elsewhere"
    cwd.mkdir()
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                            "--no-index", "-q", "-w", str(wheels)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("prunelab-*.whl")
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                              "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRUNELAB_", "STREAMLIT_"))}
    env.update(PYTHONPATH=str(target), XDG_CACHE_HOME=str(root / "xdg"), OMP_NUM_THREADS="1",
               HOME=str(root / "home"))
    return {"wheel": wheel, "source": source, "target": target, "env": env, "cwd": cwd, "root": root}


@pytest.mark.slow
def test_wheel_carries_engine_launcher_and_app(installed):
    with zipfile.ZipFile(installed["wheel"]) as whl:
        names = set(whl.namelist())
        dist = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = whl.read(f"{dist}/entry_points.txt").decode()
        metadata = whl.read(f"{dist}/METADATA").decode()
    source = installed["source"]          # the checkout as copied (others may edit the checkout meanwhile)
    engine = {p.relative_to(source).as_posix() for p in (source / "pruning_core").rglob("*.py")}
    app = {f"prunelab/app_files/{p.relative_to(source).as_posix()}"
           for pattern in ("app.py", "pages/*.py", "ui/*.py", ".streamlit/config.toml") for p in source.glob(pattern)}
    assert {"prunelab/__init__.py", "prunelab/cli.py"} <= names
    assert engine <= names, sorted(engine - names)
    assert app <= names, sorted(app - names)
    assert "prunelab/app_files/ui/__init__.py" in app and any("/pages/" in n for n in app)
    assert not any(n.startswith(("tests/", "ui/", "pages/", "cache/", "app.py", "dev.py")) for n in names)
    assert re.search(r"^\[console_scripts\]\s*\nprunelab = prunelab\.cli:main\s*$", entry_points, re.M), entry_points
    # The dependencies are requirements.txt's; the extras requirements-ray.txt's and requirements-dev.txt's.
    requires = re.findall(r"^Requires-Dist: (.+)$", metadata, re.M)
    runtime = {normalized(r) for r in requires if "extra ==" not in r}
    assert runtime == {normalized(r) for r in requirement_lines("requirements.txt")}
    for extra, file in (("ray", "requirements-ray.txt"), ("dev", "requirements-dev.txt")):
        declared = {normalized(r) for r in requires if re.search(rf"extra == \"{extra}\"", r)}
        assert declared == {normalized(r) for r in requirement_lines(file)}, extra
    assert (installed["target"] / "bin" / "prunelab").is_file()          # the console script


@pytest.mark.slow
def test_prunelab_run_outside_the_repository(installed):
    cache, cwd, env = installed["root"] / "cache", installed["cwd"], installed["env"]
    where = subprocess.run([sys.executable, "-c", "import sys, pruning_core, prunelab.cli; "
                            "print(pruning_core.__file__); print(prunelab.cli.app_dir()); "
                            f"print(any(p and p.startswith({str(REPO)!r}) and '.venv' not in p for p in sys.path))"],
                           cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    engine, app_dir, repo_on_path = where.stdout.split()
    assert engine.startswith(str(installed["target"]))
    assert app_dir == str(installed["target"] / "prunelab" / "app_files")
    assert repo_on_path == "False"
    script = installed["target"] / "bin" / "prunelab"
    run = subprocess.run([sys.executable, str(script), "--cache", str(cache), "run", "--set", "dataset.name=digits",
                          "--set", "algorithm.rounds=1", "--set", "algorithm.rewind_epoch=1", "--set",
                          "training.epochs=2", "--set", "training.batch_size=200", "--quiet"],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    job = re.search(r"job (\S+): finished", run.stdout).group(1)
    listed = subprocess.run([sys.executable, str(script), "--cache", str(cache), "list"], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and re.search(rf"{job}\s+finished", listed.stdout), listed.stdout + listed.stderr


APP_SCRIPT = r"""
import os, sys, time
from streamlit.testing.v1 import AppTest
from prunelab.cli import app_dir
at = AppTest.from_file(str(app_dir() / "app.py"), default_timeout=90).run()
assert not at.exception, [e.value for e in at.exception]
# A job submitted as the app does: the worker it starts (python -m pruning_core worker) runs it.
from pruning_core.config import Config
from pruning_core.jobs.store import JobStore
from ui import launcher
config = Config.from_dict({"algorithm": {"rounds": 1, "rewind_epoch": 1}, "training": {"epochs": 2, "batch_size": 200}})
job = launcher.submit(config)
deadline, status = time.monotonic() + 150, None
while time.monotonic() < deadline and status not in ("finished", "failed"):
    time.sleep(1)
    with JobStore() as store:
        status = store.get_job(job)["status"]
for pid in launcher.worker_pids():
    os.kill(pid, 15)
assert status == "finished", status
import ui
print(ui.__file__)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_prunelab_app_from_the_installed_files(installed):
    cwd, env = installed["cwd"], {**installed["env"], "PRUNELAB_CACHE": str(installed["root"] / "app-cache")}
    script = installed["target"] / "bin" / "prunelab"
    shown = subprocess.run([sys.executable, str(script), "app", "--help"], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and str(installed["target"] / "prunelab" / "app_files") in shown.stdout, shown
    # The home page runs (its `ui` and `pruning_core` imports resolve to the wheel's files), a job
    # submitted through the app's launcher runs in the worker it starts ...
    page = subprocess.run([sys.executable, "-c", APP_SCRIPT], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert page.returncode == 0, page.stderr[-3000:]
    assert page.stdout.strip().splitlines()[-1].startswith(str(installed["target"] / "prunelab" / "app_files" / "ui"))
    # ... and `prunelab app` serves it.
    port = _free_port()
    server = subprocess.Popen([sys.executable, str(script), "app", "--server.headless", "true",
                               "--server.port", str(port)], cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    status = response.status, response.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert status == (200, "ok"), (status, server.poll())
    finally:
        os.killpg(server.pid, 15)              # the launcher and its `streamlit run` (one session)
        server.communicate(timeout=30)


# ---- the launcher's arguments (fast: nothing is built or started) --------------------------------

def test_app_serves_on_localhost_unless_an_address_is_named():
    from prunelab import cli

    assert cli.source_checkout() == REPO and cli.app_dir() == REPO          # a checkout runs its own files
    command = cli.app_command(["--server.port", "8502"], environ={})
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py")]
    assert command[5:] == ["--server.address", "127.0.0.1", "--server.port", "8502"]
    assert "127.0.0.1" not in cli.app_command(["--server.address=0.0.0.0"], environ={})
    assert "127.0.0.1" not in cli.app_command([], environ={"STREAMLIT_SERVER_ADDRESS": "0.0.0.0"})


def test_global_options_before_app_become_the_environment(tmp_path, monkeypatch):
    from prunelab import cli

    assert cli._split_globals(["--cache", "C", "--plugin=p.py", "app", "--cache", "x"]) == (
        {"--cache": ["C"], "--plugin": ["p.py"]}, ["app", "--cache", "x"])
    assert cli._split_globals(["run", "--set", "a=1"]) == ({"--cache": [], "--plugin": []}, ["run", "--set", "a=1"])
    seen = {}
    monkeypatch.setattr(cli.subprocess, "run", lambda command, env: seen.update(command=command, env=env) or
                        subprocess.CompletedProcess(command, 0))
    monkeypatch.delenv("STREAMLIT_SERVER_ADDRESS", raising=False)
    assert cli.main(["--cache", str(tmp_path / "c"), "app", "--server.headless", "true"]) == 0
    assert seen["env"]["PRUNELAB_CACHE"] == str(tmp_path / "c")
    assert seen["command"][-4:] == ["--server.address", "127.0.0.1", "--server.headless", "true"]


def test_an_installed_copy_keeps_its_store_out_of_site_packages(tmp_path, monkeypatch):
    from prunelab import cli

    monkeypatch.setattr(cli, "source_checkout", lambda: None)
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    cli.installed_defaults(env)
    assert env == {"XDG_CACHE_HOME": str(tmp_path), "PRUNELAB_CACHE": str(tmp_path / "prunelab"),
                   "PRUNELAB_DATA": str(tmp_path / "prunelab" / "data")}
    mine = {"PRUNELAB_CACHE": "/mine"}
    cli.installed_defaults(mine)
    assert mine == {"PRUNELAB_CACHE": "/mine"}
