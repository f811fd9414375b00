"""`python3 dev.py run` serves on this machine only unless the user names an address; a plain
`streamlit run app.py` from the repository root does the same through .streamlit/config.toml."""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
import subprocess
import tomllib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dev():
    spec = importlib.util.spec_from_file_location("dev", REPO / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def address_of(args: list[str]) -> list[str]:
    """Every address the command line names, in either spelling of the option."""
    found = [b for a, b in zip(args, args[1:]) if a == "--server.address"]
    return found + [a.split("=", 1)[1] for a in args if a.startswith("--server.address=")]


def test_run_binds_localhost_by_default(dev):
    args = dev.command_line("run", [], environ={})
    assert args[1:4] == ["-m", "streamlit", "run"] and args[4].endswith("app.py")
    assert address_of(args) == ["127.0.0.1"]
    # other options still reach streamlit, and the default address stays
    args = dev.command_line("run", ["--server.port", "8600"], environ={})
    assert address_of(args) == ["127.0.0.1"] and args[-2:] == ["--server.port", "8600"]


@pytest.mark.parametrize("extra", [["--server.address", "0.0.0.0"], ["--server.address=0.0.0.0"]],
                         ids=["separate", "equals"])
def test_an_address_the_user_names_wins(dev, extra):
    args = dev.command_line("run", extra, environ={})
    assert address_of(args) == ["0.0.0.0"]            # theirs alone: no 127.0.0.1 before or after it


def test_the_address_from_the_environment_wins(dev):
    args = dev.command_line("run", [], environ={"STREAMLIT_SERVER_ADDRESS": "0.0.0.0"})
    assert address_of(args) == []                     # streamlit reads the variable itself


def test_test_and_bench_commands_are_unchanged(dev):
    assert dev.command_line("test", [], environ={})[1:] == ["-m", "pytest", "-q"]
    assert dev.command_line("test", ["-k", "config"], environ={})[-2:] == ["-k", "config"]
    assert dev.command_line("bench", ["--quick"], environ={})[-2:] == [str(REPO / "benchmarks" / "bench_epoch.py"),
                                                                       "--quick"]
    assert address_of(dev.command_line("test", [], environ={})) == []


def test_the_project_config_binds_localhost_and_is_tracked():
    path = REPO / ".streamlit" / "config.toml"
    assert tomllib.loads(path.read_text())["server"]["address"] == "127.0.0.1"
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO, capture_output=True)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 1, ".streamlit/config.toml is git-ignored"
