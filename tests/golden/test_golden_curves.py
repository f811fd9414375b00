"""Golden curves: rerun a few CPU-cheap settings over 5 seeds and compare each round with the stored band.

The settings, the runner and the comparison live in ``benchmarks/golden_curves.py`` (one source for
this test and for the command that regenerates ``golden_curves.json`` when a change is intended)::

    .venv/bin/python benchmarks/golden_curves.py --regenerate

A round fails when its median test accuracy over the seeds leaves [min − tol, max + tol] of the
stored seeds (tol in the file, with why), or when any seed's sparsity or remaining weights differ
from the stored ones. Settings on Fashion-MNIST are skipped when it is not offline. All settings
run in one store with one one-thread job per core (about 5 minutes on a quiet 2-core machine);
``-k digits`` runs only the settings selected.
"""

from __future__ import annotations

import pytest

from benchmarks import golden_curves as gc

pytestmark = [pytest.mark.golden, pytest.mark.slow]

NAMES = [s.name for s in gc.SETTINGS]


@pytest.fixture(scope="module")
def golden() -> dict:
    assert gc.GOLDEN_FILE.exists(), f"{gc.GOLDEN_FILE} is missing; run {gc.REGENERATE}"
    return gc.load_golden()


@pytest.fixture(scope="module")
def measured(request, tmp_path_factory) -> dict:
    """The rounds of every selected, runnable setting, all run in one store at once."""
    selected = {item.callspec.params["name"] for item in request.session.items
                if getattr(item, "module", None) is request.module and hasattr(item, "callspec")
                and "name" in item.callspec.params}
    settings = [s for s in gc.SETTINGS if s.name in selected and gc.missing_reason(s) is None]
    return gc.run_settings(settings, tmp_path_factory.mktemp("golden") / "cache")


def test_golden_file_describes_the_settings(golden):
    assert golden["format"] == gc.FORMAT
    assert golden["seeds"] == list(gc.SEEDS)
    assert golden["tolerance"] == gc.TOLERANCE
    assert sorted(golden["settings"]) == sorted(NAMES), f"settings changed; run {gc.REGENERATE}"
    for name in NAMES:
        assert golden["settings"][name]["config"] == gc.BY_NAME[name].config, \
            f"{name}: config changed since the golden file was made; run {gc.REGENERATE} --only {name}"
    assert gc.dumps(golden) == gc.GOLDEN_FILE.read_text(), "golden file not in its canonical form; regenerate it"


@pytest.mark.parametrize("name", NAMES)
def test_golden_curve(name, golden, measured):
    why = gc.missing_reason(gc.BY_NAME[name])
    if why:
        pytest.skip(why)
    problems = gc.compare(name, golden, measured[name])
    hint = (f"\nIf this change is intended, regenerate and review the diff: {gc.REGENERATE} --only {name}"
            f"\n(golden file made with torch {golden.get('torch')})")
    if problems:      # the message only: the measured tables are too long for a traceback
        pytest.fail("golden curve drifted:\n" + "\n".join(problems) + hint, pytrace=False)
