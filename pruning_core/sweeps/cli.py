"""``python -m pruning_core sweep`` and ``slot``: a grid of jobs from the command line.

Example::

    python -m pruning_core sweep --config base.toml --axis algorithm.partial_epochs=null,3,5 \\
        --axis pruner.score=magnitude,random --axis seed=0,1,2 --out results/

Axes multiply (``--zip`` pairs them). Every member is validated before anything is queued; the
command prints the grid size, the search cost and a time estimate, one line per finished job,
and with ``--out`` writes ``sweep.csv`` and ``sweep_summary.csv``. Ctrl-C cancels the sweep's
jobs (finished rounds are kept); ``--resume SWEEP`` continues it.
"""

from __future__ import annotations

import datetime
import pathlib
import statistics
import sys

from ..config import load_config
from .execute import EXECUTORS

__all__ = ["add_sweep_commands"]


def _duration(seconds: float | None) -> str:
    return "unknown" if seconds is None else str(datetime.timedelta(seconds=int(round(seconds))))


def seconds_per_epoch(store, model: str, dataset: str) -> float | None:
    """Median seconds per epoch of this store's finished jobs of the same model and dataset."""
    samples = []
    for job in store.list_jobs():
        config = job.get("config") or {}
        if job["status"] != "finished" or (config.get("model") or {}).get("name") != model \
                or (config.get("dataset") or {}).get("name") != dataset:
            continue
        progress = job.get("progress") or {}
        if job.get("started") and job.get("finished") and progress.get("epochs_done"):
            samples.append((job["finished"] - job["started"]) / progress["epochs_done"])
    return statistics.median(samples) if samples else None


def cmd_sweep(args) -> int:
    from ..jobs.store import JobStore
    from ..registry import loaded_plugin_files
    from . import expand, parse_axis, queue_sweep, sweep_rounds, sweep_summary
    from .execute import check_executor, execute, hand_over

    with JobStore(args.cache) as store:
        if args.resume:
            sweep = store.get_sweep(args.resume)
            args.executor = args.executor or sweep.get("executor") or "local"
            args.address = args.address or (sweep.get("address") if args.executor == "ray" else None)
            check_executor(args.executor, args.address)
            hand_over(store, sweep, args.executor)
        else:
            args.executor = args.executor or "local"
            check_executor(args.executor, args.address)
            base = load_config(args.config, args.set, recipe=args.recipe).to_dict()
            grid = expand(base, [parse_axis(a) for a in args.axis], zipped=args.zip)
            grid.check(confirmed=args.yes)
            first = grid.members[0].config
            per_epoch = seconds_per_epoch(store, first.model.name, first.dataset.name)
            slots = args.slots or 1
            estimate = None if per_epoch is None else per_epoch * grid.total_epochs() / slots
            print(f"sweep of {len(grid.members)} jobs ({' × '.join(str(len(a.values)) for a in grid.axes)}"
                  f"{' zipped' if grid.zipped else ''}): {grid.total_epochs()} epochs, search cost "
                  f"{grid.search_cost()} epochs, estimated {_duration(estimate)}", flush=True)
            if args.dry_run:
                return 0
            sweep = queue_sweep(grid, store.root, name=args.name, origin="cli", confirmed=args.yes,
                                plugins=loaded_plugin_files(), executor=args.executor, address=args.address)
        print(f"sweep {sweep['id']}: {len(sweep['jobs'])} jobs queued, executor {args.executor}", flush=True)

    def done(record: dict) -> None:
        axes = ", ".join(f"{k}={v}" for k, v in (record.get("axes") or {}).items())
        reason = f" ({record['error']})" if record.get("error") else ""
        print(f"  {record['status']:<11} {record['id']}  {axes}{reason}", flush=True)

    try:
        final = execute(sweep, args.cache, done, executor=args.executor, slots=args.slots, address=args.address)
    except KeyboardInterrupt:
        with JobStore(args.cache) as store:
            for job_id in sweep["jobs"]:
                store.request_cancel(job_id)
        print(f"cancelled: finished rounds are kept; continue with: python -m pruning_core sweep --resume "
              f"{sweep['id']}", file=sys.stderr)
        return 130
    if args.out:
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        with JobStore(args.cache) as store:
            rounds = sweep_rounds(store, sweep)
        rounds.drop(columns=[c for c in ("layer_sparsity", "weight_stability") if c in rounds]).to_csv(
            out / "sweep.csv", index=False)
        sweep_summary(rounds, sweep).to_csv(out / "sweep_summary.csv", index=False)
        print(f"wrote {out / 'sweep.csv'} and {out / 'sweep_summary.csv'}")
    failed = [r for r in final.values() if r["status"] != "finished"]
    print(f"sweep {sweep['id']}: {len(final) - len(failed)}/{len(final)} finished")
    return 0 if not failed else 1


def cmd_slot(args) -> int:
    """One slot of the local scheduler: serve the queue without the store's lock."""
    from ..jobs.store import JobStore
    from ..jobs.worker import serve

    with JobStore(args.cache) as store:
        return serve(store, args.idle_exit)


def add_sweep_commands(sub) -> None:
    """The ``sweep`` and ``slot`` sub-commands on the main parser's subparsers."""
    p = sub.add_parser("sweep", help="run a grid of jobs: --axis field=v1,v2 (repeatable)")
    p.add_argument("--recipe", metavar="NAME", help="start the base from a paper recipe (see: recipes); "
                   "--config and --set apply over it")
    p.add_argument("--config", help="partial JSON or TOML base config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override of the base")
    p.add_argument("--axis", action="append", default=[], metavar="FIELD=V1,V2",
                   help="a field and its values, e.g. seed=0,1,2 or pruner.score=magnitude,random")
    p.add_argument("--zip", action="store_true", help="pair the axes' values instead of multiplying them")
    p.add_argument("--executor", choices=EXECUTORS, help="local (default) or ray; with --resume: the sweep's own")
    p.add_argument("--address", help="Ray cluster address (executor ray); default: a local Ray")
    p.add_argument("--slots", type=int, help="concurrent jobs (default: one per GPU, else per the CPU)")
    p.add_argument("--out", help="write sweep.csv and sweep_summary.csv here")
    p.add_argument("--name", help="the sweep's name (default: its id)")
    p.add_argument("--yes", action="store_true", help="allow a grid of more than 1,000 jobs")
    p.add_argument("--dry-run", action="store_true", help="validate and estimate; queue nothing")
    p.add_argument("--resume", metavar="SWEEP", help="requeue a sweep's unfinished jobs and run them")
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("slot", help="one slot of the local scheduler (started by the worker)")
    p.add_argument("--idle-exit", type=float, default=10.0)
    p.set_defaults(func=cmd_slot)
