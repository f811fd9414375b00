"""A job store seeded once per session with one real finished run, copied fresh for every test.

The run happens in a subprocess (the engine on digits, 2 rounds, 2 seeds: a few seconds), so this
test process never imports torch and the pages are tested exactly as Streamlit runs them.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

SEED_SCRIPT = r"""
import json, sys, torch
torch.set_num_threads(1)
import pruning_core as pc
from pruning_core.describe import describe
from ui.data import remember_describe
root = sys.argv[1]
result = pc.run({"algorithm": {"rounds": 2}, "repeats": 2}, cache_dir=root, origin="test")
remember_describe(root, "lenet300_100", "digits", describe(pc.Config()))
print(result.job_id)
"""


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory) -> tuple[pathlib.Path, str]:
    root = tmp_path_factory.mktemp("seeded") / "cache"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", SEED_SCRIPT, str(root)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return root, proc.stdout.strip().splitlines()[-1]


@pytest.fixture
def store_dir(seeded_store, tmp_path, monkeypatch) -> tuple[pathlib.Path, str]:
    """A private copy of the seeded store, with PRUNELAB_CACHE pointing at it."""
    root, job_id = seeded_store
    copy = tmp_path / "cache"
    shutil.copytree(root, copy)
    monkeypatch.setenv("PRUNELAB_CACHE", str(copy))
    return copy, job_id


@pytest.fixture
def no_worker(monkeypatch) -> list:
    """Replace the launcher's worker start: the calls are recorded, no process starts."""
    from ui import launcher

    calls: list = []
    monkeypatch.setattr(launcher, "ensure_worker", lambda cache_dir=None: calls.append(cache_dir) or 0)
    return calls
