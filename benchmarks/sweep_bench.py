"""Sweep wall time: the local executor (slots, shared dense training) against one job at a time.

A 12-job sweep — 4 scores × 3 seeds of LeNet-300-100, IMP with weight rewinding, 5 rounds — run
in fresh stores, all in one invocation so the ratios compare like with like:

* ``one by one``: the jobs run one after another in one process on one thread, each training its
  own dense network (what the app's worker did before sweeps on this 2-core machine);
* ``sweep, no sharing``: the local executor's default slots, every job training round 0;
* ``sweep``: the local executor's default slots with round 0 shared (the default);
* ``sweep on Ray``: the same grid on a local Ray (when Ray is installed).

Every mode must give the same rounds (the script checks it). Usage::

    .venv/bin/python benchmarks/sweep_bench.py [--dataset fashion_mnist] [--epochs 2] [--skip-ray]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pruning_core.jobs.store import JobStore  # noqa: E402
from pruning_core.runner import load_result, run  # noqa: E402
from pruning_core.sweeps import expand, parse_axis, queue_sweep  # noqa: E402
from pruning_core.sweeps.execute import execute  # noqa: E402

SCORES = "magnitude,random,snip,taylor"
COLUMNS = ["seed", "round", "remaining_weights", "test_accuracy"]


def grid(args):
    base = {"dataset": {"name": args.dataset}, "model": {"name": "lenet300_100"},
            "training": {"epochs": args.epochs, "batch_size": 60},
            "algorithm": {"name": "imp", "rounds": args.rounds, "rewind_epoch": args.epochs - 1}}
    return expand(base, [parse_axis(f"pruner.score={SCORES}"), parse_axis("seed=0,1,2")])


def rounds_of(cache: pathlib.Path, job_ids: list[str]) -> dict:
    return {j: load_result(j, cache_dir=cache).rounds[COLUMNS].round(12).values.tolist() for j in job_ids}


def one_by_one(args, cache: pathlib.Path) -> tuple[float, list]:
    """The jobs one after another in this process on one thread: the app's worker before sweeps
    (it kept one of the two cores for the app). One thread also makes the results comparable bit
    for bit with the one-thread slots: torch's CPU reductions depend on the thread count."""
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    results = [run(m.config, cache_dir=cache, share_dense=False).rounds[COLUMNS].round(12).values.tolist()
               for m in grid(args).members]
    return time.perf_counter() - start, results


def as_sweep(args, cache: pathlib.Path, *, executor: str = "local", slots: int | None = None,
             share: bool = True) -> tuple[float, list]:
    os.environ["PRUNELAB_SHARE_DENSE"] = "1" if share else "0"
    start = time.perf_counter()
    sweep = queue_sweep(grid(args), cache)
    final = execute(sweep, cache, executor=executor, slots=slots)
    elapsed = time.perf_counter() - start
    assert all(r["status"] == "finished" for r in final.values()), {j: r["status"] for j, r in final.items()}
    by_job = rounds_of(cache, sweep["jobs"])
    return elapsed, [by_job[j] for j in sweep["jobs"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    print(f"$ {' '.join(sys.argv)}\n12 jobs: {SCORES} × seeds 0,1,2; LeNet-300-100 on {args.dataset}, "
          f"T = {args.epochs}, {args.rounds} rounds; {os.cpu_count()} cores", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        base_time, reference = one_by_one(args, tmp / "a")
        rows.append(("one by one (as before)", base_time))
        modes = [("sweep, default slots, no sharing", dict(share=False)),
                 ("sweep, default slots, dense shared", dict())]
        if not args.skip_ray:
            try:
                import ray  # noqa: F401
                modes.append(("sweep on a local Ray (each job trains its round 0)", dict(executor="ray")))
            except ImportError:
                print("(ray not installed: pip install -r requirements-ray.txt)")
        for i, (label, kwargs) in enumerate(modes):
            elapsed, results = as_sweep(args, tmp / f"m{i}", **kwargs)
            same = results == reference
            rows.append((label + ("" if same else "  (RESULTS DIFFER)"), elapsed))
            print(f"  {label}: {elapsed:.1f} s", flush=True)
    print("\n| mode | wall time | vs one by one |\n|---|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.1f} s | {seconds / base_time:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
