"""Golden curves: the expected per-round accuracy band of a few CPU-cheap settings, to catch drift.

For every setting below, five seeds (0…4) run through the public sweep API (``queue_sweep`` +
the local executor, round 0 shared between jobs as by default) in a fresh store. Per round the
file ``tests/golden/golden_curves.json`` keeps the median, min and max test accuracy over the
seeds, and the sparsity and remaining weights, which do not depend on the seed.
``tests/golden/test_golden_curves.py`` (pytest marker ``golden``) reruns the settings and fails when

* a round's median test accuracy leaves [min − TOLERANCE, max + TOLERANCE], or
* any seed's sparsity of a round differs from the stored one by more than SPARSITY_TOLERANCE
  (1e-9: the sparsity is a count of weights, it is either the same or it is not), or its
  remaining weights differ at all.

Every job runs on the CPU with one thread (each slot process gets ``OMP_NUM_THREADS=1``, see
:func:`run_settings`), so on one machine a rerun reproduces every seed bit for bit and the median
sits exactly where it was stored. Another CPU or another torch build changes the last bits of a
matmul, which training amplifies; that is what TOLERANCE absorbs. An intended change of results
(a new default, a fixed bug) is recorded by regenerating the file and reviewing its diff::

    .venv/bin/python benchmarks/golden_curves.py --regenerate            # all settings (~5 min, 2 cores)
    .venv/bin/python benchmarks/golden_curves.py --regenerate --only digits_quickstart
    .venv/bin/python benchmarks/golden_curves.py --check                 # what the test does, as a table

The file is JSON with sorted keys, two-space indents and one round per line, floats rounded to
6 decimals (accuracies are k / N for N = 360 or 10,000 test images; sparsities keep 12), so a review diff shows which
rounds of which setting moved.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:            # run as a script (python benchmarks/golden_curves.py), as the other benchmarks
    sys.path.insert(0, str(ROOT))

GOLDEN_FILE = ROOT / "tests" / "golden" / "golden_curves.json"
REGENERATE = ".venv/bin/python benchmarks/golden_curves.py --regenerate"
FORMAT = 1
SEEDS = (0, 1, 2, 3, 4)
DIGITS = 6                               # decimals kept for accuracies in the file
SPARSITY_DIGITS = 12                     # and for sparsities (1 − remaining / total: compared to 1e-9)
TOLERANCE = 0.005
TOLERANCE_NOTE = (
    "Accuracies are fractions: 0.005 = 0.5 accuracy points. A round fails when its median test accuracy over the "
    "5 seeds leaves [min - tolerance, max + tolerance] of the stored seeds. On the machine that generated the file "
    "every seed reproduces bit for bit (CPU, one thread per job), so the median is exactly the stored one; on "
    "another CPU or torch build the last bits of a matmul differ and training amplifies them, which moves each "
    "seed's accuracy by a few test images (0.28 points per image on digits' 360, 0.01 on Fashion-MNIST's 10,000). "
    "The band over seeds already holds such spread; the tolerance adds about two digits images for a seed whose "
    "rounding went the other way. A real change (a different pruner, LR, schedule or rewind point) moves the "
    "median out of the band or changes the sparsity, which is compared exactly.")
SPARSITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Setting:
    """One golden setting: a partial config (the rest is the engine's defaults) run for SEEDS."""

    name: str
    description: str
    config: dict
    dataset: str = field(default="digits")   # must be available offline, else the setting is skipped

    def full(self, seed: int) -> dict:
        return {**json.loads(json.dumps(self.config)), "seed": seed}


_FMNIST = {"name": "fashion_mnist", "download": False}
_LENET5_STRUCTURED = {"epochs": 2}       # the IAP paper's LeNet recipe (NAdam 1.2e-3, batch 60), shortened


def _lenet5_structured(score: dict) -> dict:
    """The ILP / IAP comparison's config, which differs only in the filter score: LeNet-5 on
    Fashion-MNIST, 20 % of each layer's alive filters / neurons per round, 3 rounds, rewind to 1."""
    return {"model": {"name": "lenet5"}, "dataset": _FMNIST, "device": "cpu",
            "pruner": {"score": score, "unit": "output_filter", "grouping": "local",
                       "conv_rate": 0.2, "dense_rate": 0.2},
            "training": _LENET5_STRUCTURED,
            "algorithm": {"name": "imp", "rounds": 3, "treatment": "rewind", "rewind_epoch": 1}}

SETTINGS: tuple[Setting, ...] = (
    # Queued in this order: the longest jobs first, so the two slots finish together.
    Setting(
        "lenet5_ilp",
        "ILP (structured magnitude pruning): LeNet-5 on Fashion-MNIST, 20 % of the alive filters / neurons of each "
        "layer per round (L1 norm), 3 rounds, rewind to epoch 1 of T = 2 and retrain 1 epoch per round. Round 0 is "
        "shared with lenet5_iap (same dense training).",
        _lenet5_structured({"name": "magnitude", "norm": "l1"}),
        dataset="fashion_mnist"),
    Setting(
        "lenet5_iap",
        "IAP (structured activation pruning): as lenet5_ilp, filters / neurons scored by their mean post-ReLU "
        "activation over one batch of 60 training images.",
        _lenet5_structured({"name": "activation"}),
        dataset="fashion_mnist"),
    Setting(
        "asni1_lenet5_s90",
        "ASNI-I to 90 % global sparsity: LeNet-5 on Fashion-MNIST, the recipe of configs/repro/asni_lenet5.toml "
        "(SGD lr 0.05, momentum 0.9, x0.1 at epochs 2 and 3, E = 4 epochs, sigmoid schedule beta 0.5, gamma E/10) "
        "without ASNI-II; one row per epoch.",
        {"model": {"name": "lenet5"}, "dataset": _FMNIST, "device": "cpu",
         "training": {"epochs": 4, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "lr_schedule": "step",
                      "milestones": [2, 3]},
         "algorithm": {"name": "asni", "schedule": {"name": "sigmoid", "target_sparsity": 0.9}, "amenable": False}},
        dataset="fashion_mnist"),
    Setting(
        "fmnist_lenet300_imp_wr",
        "IMP with weight rewinding: LeNet-300-100 on Fashion-MNIST, global magnitude pruning of 20 % of the alive "
        "weights per round, 5 rounds, rewind to epoch 1 of T = 2 (NAdam 1.2e-3, batch 60, gradient clipping 1.0 as "
        "configs/repro/imp_wr_lenet300.toml, which has T = 3 and 20 rounds) and retrain 1 epoch per round.",
        {"dataset": _FMNIST, "device": "cpu",
         "training": {"epochs": 2, "grad_clip": 1.0},
         "algorithm": {"name": "imp", "rounds": 5, "rate": 0.2, "treatment": "rewind", "rewind_epoch": 1}},
        dataset="fashion_mnist"),
    Setting(
        "digits_quickstart",
        "The Home page's quick start (recipe lottery_quickstart, ui/state.py QUICKSTART): the engine defaults, LeNet-300-100 on scikit-learn's 8x8 "
        "digits (NAdam 1.2e-3, batch 60, T = 6), the original lottery ticket (IMP, rewind to the initialisation, "
        "20 % of the alive weights per round, global magnitude) for 20 rounds; seeds 0-4 are its 5 repeats.",
        {"device": "cpu", "algorithm": {"rounds": 20, "rewind_epoch": 0}}),
)
BY_NAME = {s.name: s for s in SETTINGS}


def missing_reason(setting: Setting) -> str | None:
    """Why ``setting`` cannot run here (its dataset is not offline), or None."""
    from pruning_core.data import available_offline

    if setting.dataset in available_offline():
        return None
    return f"{setting.dataset} not found offline (apt-get install dataset-{setting.dataset.replace('_', '-')})"


def default_slots() -> int:
    """Concurrent one-thread jobs: one per usable core, at least 2 (CI's 2 cores), at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(2, min(8, cores))


@contextlib.contextmanager
def _environment(**values: str | None):
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_settings(settings: list[Setting], cache_dir: str | pathlib.Path, slots: int | None = None,
                 on_job_done=None) -> dict[str, Any]:
    """Run every setting for SEEDS in one store (all sweeps queued first, so the slots stay busy)
    and return {setting name: its sweep's rounds table (pandas, one row per seed × round)}.

    The local executor starts ``slots`` slot processes. Each gets OMP_NUM_THREADS = 1: the
    scheduler splits $OMP_NUM_THREADS (set here to ``slots``) evenly between them, so results do not
    depend on the machine's core count. $PRUNELAB_SLOTS is cleared, $PRUNELAB_SHARE_DENSE left at
    its default (round 0 shared), and the slots find ``pruning_core`` through PYTHONPATH."""
    from pruning_core.jobs.store import JobStore
    from pruning_core.sweeps import Axis, expand, queue_sweep, sweep_rounds
    from pruning_core.sweeps.execute import execute

    slots = slots or default_slots()
    python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    with _environment(OMP_NUM_THREADS=str(slots), PRUNELAB_SLOTS=None, PRUNELAB_SHARE_DENSE=None,
                      PYTHONPATH=python_path):
        queued = {s.name: queue_sweep(expand(s.config, [Axis("seed", SEEDS)]), cache_dir, name=f"golden {s.name}")
                  for s in settings}
        for i, sweep in enumerate(queued.values()):      # the first call starts the slots; they serve every sweep
            execute(sweep, cache_dir, on_job_done, slots=slots if i == 0 else None)
    with JobStore(cache_dir) as store:
        tables = {name: sweep_rounds(store, sweep) for name, sweep in queued.items()}
    for name, table in tables.items():
        bad = table[table["status"] != "finished"] if len(table) else table
        if len(bad) or table["seed"].nunique() != len(SEEDS):
            raise RuntimeError(f"golden setting {name}: not every seed finished "
                               f"({sorted(set(table['status'])) if len(table) else 'no rounds'})")
    return tables


def _r(x: float) -> float:
    return round(float(x), DIGITS)


def curve(table) -> list[dict]:
    """Per round of one setting's rounds table: sparsity and remaining weights (the same for
    every seed, else ValueError), median, min and max test accuracy over the seeds."""
    rows = []
    for r, group in table.groupby("round", sort=True):
        sparsities = sorted(set(float(s) for s in group["sparsity"]))
        remaining = sorted(set(int(w) for w in group["remaining_weights"]))
        if sparsities[-1] - sparsities[0] > SPARSITY_TOLERANCE or len(remaining) > 1:
            raise ValueError(f"round {r}: the seeds disagree on the sparsity ({sparsities}) or the remaining "
                             f"weights ({remaining}); a golden curve needs a seed-independent sparsity")
        acc = [float(a) for a in group["test_accuracy"]]
        rows.append({"round": int(r), "sparsity": round(sparsities[0], SPARSITY_DIGITS), "remaining_weights": remaining[0],
                     "median": _r(statistics.median(acc)), "min": _r(min(acc)), "max": _r(max(acc))})
    return rows


def document(tables: dict[str, Any], previous: dict | None = None) -> dict:
    """The golden file's content: the settings of ``tables`` recomputed, the others kept from
    ``previous`` (regenerating one setting leaves the rest alone)."""
    import torch

    settings = dict((previous or {}).get("settings", {}))
    for s in SETTINGS:
        if s.name in tables:
            settings[s.name] = {"description": s.description, "config": s.config, "dataset": s.dataset,
                                "rounds": curve(tables[s.name])}
    settings = {k: v for k, v in settings.items() if k in BY_NAME}
    return {"format": FORMAT, "seeds": list(SEEDS), "tolerance": TOLERANCE, "tolerance_note": TOLERANCE_NOTE,
            "sparsity_tolerance": SPARSITY_TOLERANCE, "accuracy": "test_accuracy, a fraction of the test set",
            "regenerate": REGENERATE, "torch": torch.__version__.split("+")[0], "settings": settings}


def dumps(doc: dict) -> str:
    """Stable JSON: sorted keys, two-space indents, and each round of a curve on one line."""
    def render(value: Any, indent: int, key: str | None = None) -> str:
        pad, inner = "  " * indent, "  " * (indent + 1)
        if isinstance(value, dict) and value:
            items = [f"{inner}{json.dumps(k)}: {render(v, indent + 1, k)}" for k, v in sorted(value.items())]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(value, list) and value and key == "rounds":
            lines = [inner + json.dumps(v, sort_keys=True) for v in value]
            return "[\n" + ",\n".join(lines) + "\n" + pad + "]"
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return render(doc, 0) + "\n"


def load_golden(path: pathlib.Path = GOLDEN_FILE) -> dict:
    return json.loads(path.read_text())


def compare(name: str, golden: dict, table) -> list[str]:
    """Every way the measured rounds ``table`` of setting ``name`` leave its golden curve, one
    message each (empty: it matches)."""
    tol = golden.get("tolerance", TOLERANCE)
    stored = golden["settings"].get(name)
    if stored is None:
        return [f"{name}: not in {GOLDEN_FILE.relative_to(ROOT)}; run {REGENERATE} --only {name}"]
    if stored["config"] != BY_NAME[name].config:
        return [f"{name}: its config in benchmarks/golden_curves.py differs from the one the golden file was "
                f"made with; run {REGENERATE} --only {name}"]
    problems = []
    expected = {row["round"]: row for row in stored["rounds"]}
    measured_rounds = sorted(int(r) for r in set(table["round"]))
    if measured_rounds != sorted(expected):
        problems.append(f"{name}: rounds {measured_rounds}, golden rounds {sorted(expected)}")
    for r, group in table.groupby("round", sort=True):
        row = expected.get(int(r))
        if row is None:
            continue
        off = [(int(seed), float(s), int(w)) for seed, s, w in zip(group["seed"], group["sparsity"],
                                                                 group["remaining_weights"])
               if abs(float(s) - row["sparsity"]) > SPARSITY_TOLERANCE or int(w) != row["remaining_weights"]]
        if off:
            found: dict[tuple, list] = {}
            for seed, s, w in off:
                found.setdefault((s, w), []).append(seed)
            problems.append(f"{name} round {r}: sparsity " + "; ".join(
                f"{s:.9f} ({w} weights remaining) for seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
                for (s, w), seeds in found.items())
                + f"; golden {row['sparsity']:.9f} ({row['remaining_weights']} weights remaining)")
        acc = sorted(float(a) for a in group["test_accuracy"])
        median = statistics.median(acc)
        low, high = row["min"] - tol, row["max"] + tol
        if not low <= median <= high:
            problems.append(f"{name} round {r}: median test accuracy {median:.4f} outside the golden band "
                            f"[{low:.4f}, {high:.4f}] = [min {row['min']:.4f} - {tol}, max {row['max']:.4f} + {tol}] "
                            f"(golden median {row['median']:.4f}; seeds now {', '.join(f'{a:.4f}' for a in acc)})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--regenerate", action="store_true", help=f"rerun and rewrite {GOLDEN_FILE.relative_to(ROOT)}")
    mode.add_argument("--check", action="store_true", help="rerun and compare with the golden file (as the test)")
    parser.add_argument("--only", nargs="+", choices=sorted(BY_NAME), help="these settings only")
    parser.add_argument("--slots", type=int, default=None, help="concurrent one-thread jobs (default: cores, 2..8)")
    parser.add_argument("--cache", type=pathlib.Path, default=None, help="store to run in (default: a temporary one)")
    args = parser.parse_args(argv)

    chosen = [BY_NAME[n] for n in args.only] if args.only else list(SETTINGS)
    chosen = [BY_NAME[s.name] for s in SETTINGS if s in chosen]       # queue order as in SETTINGS
    missing = {s.name: missing_reason(s) for s in chosen if missing_reason(s)}
    if missing and args.regenerate:
        print("cannot regenerate: " + "; ".join(f"{k}: {v}" for k, v in missing.items()), file=sys.stderr)
        return 2
    chosen = [s for s in chosen if s.name not in missing]
    for name, why in missing.items():
        print(f"skipped {name}: {why}")

    import tempfile

    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        cache = args.cache or pathlib.Path(tmp) / "cache"
        started = time.perf_counter()
        done = []
        tables = run_settings(chosen, cache, args.slots,
                              on_job_done=lambda rec: done.append(rec) or print(
                                  f"  {len(done)} jobs done ({time.perf_counter() - started:.0f} s)", flush=True))
        print(f"{len(chosen)} settings x {len(SEEDS)} seeds in {time.perf_counter() - started:.0f} s")

    if args.regenerate:
        previous = load_golden() if GOLDEN_FILE.exists() else None
        GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN_FILE.write_text(dumps(document(tables, previous)))
        print(f"wrote {GOLDEN_FILE.relative_to(ROOT)}: {', '.join(tables)}")
        return 0

    golden = load_golden()
    failed = False
    for name, table in tables.items():
        problems = compare(name, golden, table)
        failed |= bool(problems)
        stored = {row["round"]: row for row in golden["settings"].get(name, {}).get("rounds", [])}
        print(f"\n{name}: {'FAIL' if problems else 'ok'}")
        for row in curve(table):
            g = stored.get(row["round"], {})
            print(f"  round {row['round']:2d}  sparsity {row['sparsity']:.6f}  median {row['median']:.4f}  "
                  f"golden {g.get('median', float('nan')):.4f} [{g.get('min', float('nan')):.4f}, "
                  f"{g.get('max', float('nan')):.4f}]")
        for p in problems:
            print("  " + p)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
