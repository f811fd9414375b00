"""``python -m pruning_core analyze {jaccard,ensemble,compression,effective}``: analyses of stored jobs.

Wire it with ``add_analysis_commands(sub)`` on the main parser's subparsers; every command reads
``args.cache`` (the main parser's ``--cache``; None = the default store) and prints a table, or
JSON with ``--json``. Examples::

    python -m pruning_core analyze jaccard JOB_A JOB_B --round 5    # same seed, per layer
    python -m pruning_core analyze jaccard JOB                      # m^(r) vs m^(r-1), per round
    python -m pruning_core analyze ensemble JOB_1 JOB_2 JOB_3
    python -m pruning_core analyze compression JOB [JOB ...] --drops 0 0.01
    python -m pruning_core analyze effective JOB --round 3
"""

from __future__ import annotations

import argparse
import functools
import json
import sys

from .maskmath import MODEL_KEY

__all__ = ["add_analysis_commands"]


def _clean_errors(func):
    """Missing files and unsupported inputs become one 'error:' line and exit code 2."""
    @functools.wraps(func)
    def wrapper(args) -> int:
        if not hasattr(args, "cache"):      # a parser without the main parser's --cache
            args.cache = None
        try:
            return func(args)
        except (FileNotFoundError, KeyError, ValueError) as exc:
            print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            return 2
    return wrapper


def _print(args, payload, table) -> None:
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(table.to_string(float_format=lambda v: f"{v:.4f}"))


def _layer_frame(per_round: dict[int, dict[str, float]]):
    import pandas as pd

    frame = pd.DataFrame.from_dict(per_round, orient="index")
    frame.index.name = "round"
    return frame[[c for c in frame.columns if c != MODEL_KEY] + [MODEL_KEY]] if len(frame) else frame


@_clean_errors
def cmd_jaccard(args) -> int:
    from ..jobs.store import JobStore
    from . import similarity

    if args.job_b is None:
        with JobStore(args.cache) as store:
            run_dir = store.run_dir(store.get_job(args.job_a)["id"])
        reference = int(args.reference) if args.reference.lstrip("-").isdigit() else args.reference
        per_round = similarity.jaccard_across_rounds(run_dir, args.repeat, reference)
        if args.round is not None:
            per_round = {r: v for r, v in per_round.items() if r == args.round}
        title = f"Jaccard distance (kept weights) of {args.job_a}, round r vs {reference}"
    elif args.round is not None:
        per_round = {args.round: similarity.jaccard_between_jobs(
            args.job_a, args.job_b, args.round, args.cache, args.repeat,
            allow_different_seeds=args.any_seed)}
        title = f"Jaccard distance (kept weights) between {args.job_a} and {args.job_b}"
    else:
        per_round = similarity.jaccard_between_jobs_all_rounds(args.job_a, args.job_b, args.cache, args.repeat,
                                                                allow_different_seeds=args.any_seed)
        title = f"Jaccard distance (kept weights) between {args.job_a} and {args.job_b}"
    if not args.json:
        print(title)
    _print(args, {str(r): v for r, v in per_round.items()}, _layer_frame(per_round))
    return 0


@_clean_errors
def cmd_ensemble(args) -> int:
    import pandas as pd

    from .ensemble import ensemble_jobs

    result = ensemble_jobs(args.jobs, args.cache, args.repeat, device=args.device, batch_size=args.batch_size,
                           round_index=args.round)
    rows = [{"member": j, "test_accuracy": a} for j, a in zip(result["jobs"], result["members"])]
    rows.append({"member": "ensemble (mean softmax)", "test_accuracy": result["ensemble"]})
    rows.append({"member": "agreement (all members)", "test_accuracy": result["agreement"]})
    _print(args, result, pd.DataFrame(rows).set_index("member"))
    return 0


def _rounds_frame(job_id: str, cache):
    from ..events import events_to_frames
    from ..jobs.store import JobStore

    with JobStore(cache) as store:
        store.get_job(job_id)
        events = store.events(job_id)
    rounds, _ = events_to_frames(events)
    dense_flops = {(e["repeat"], e["round"]): e.get("dense_flops") for e in events if e["type"] == "round"}
    if len(rounds):
        rounds["dense_flops"] = [dense_flops.get((r, k)) for r, k in zip(rounds["repeat"], rounds["round"])]
    return rounds


@_clean_errors
def cmd_compression(args) -> int:
    import pandas as pd

    from .compression import compression_table

    frames = []
    for job in args.jobs:
        table = compression_table(_rounds_frame(job, args.cache), args.drops, metric=args.metric)
        table.insert(0, "job", job)
        frames.append(table)
    table = pd.concat(frames, ignore_index=True)
    _print(args, table.to_dict(orient="records"), table.set_index(["job", "drop"]))
    return 0


@_clean_errors
def cmd_effective(args) -> int:
    import pandas as pd

    from ..config import Config
    from ..data import DATASETS
    from ..jobs.store import JobStore
    from ..masks import load_masks
    from ..models import build_model
    from .connectivity import effective_report

    with JobStore(args.cache) as store:
        config = Config.from_dict(store.get_job(args.job)["config"])
        files = store.run_dir(args.job).repeat(args.repeat)
    rounds = list(files.mask_files())
    if not rounds:
        raise FileNotFoundError(f"job {args.job} repeat {args.repeat} has no masks")
    round_index = rounds[-1] if args.round is None or args.round < 0 else args.round
    if round_index not in rounds:
        raise ValueError(f"round {round_index} has no masks; finished rounds: {rounds}")
    spec = DATASETS[config.dataset.name]
    model = build_model(config.model.name, in_channels=spec.in_channels, num_classes=spec.num_classes,
                        input_size=spec.input_size)
    report = effective_report(model, load_masks(files.mask_file(round_index)), bias_is_source=not args.ignore_bias)
    report = {"job": args.job, "round": round_index, **report}
    if not args.json:
        print(f"{args.job} round {round_index}: explicit sparsity {report['explicit_sparsity']:.4f}, "
              f"effective sparsity {report['effective_sparsity']:.4f}"
              + ("" if report["supported"] else f"  (not computed: {report['reason']})"))
    table = pd.DataFrame.from_dict(report["layers"], orient="index")
    table.index.name = "layer"
    _print(args, report, table)
    return 0


def add_analysis_commands(subparsers) -> argparse.ArgumentParser:
    """Register ``analyze`` and its four commands on ``subparsers`` (from ``add_subparsers``)."""
    parser = subparsers.add_parser("analyze", help="analyses of stored jobs: mask similarity, ensembles, "
                                   "compression at an accuracy drop, effective sparsity")
    sub = parser.add_subparsers(dest="analysis", required=True)

    def command(name: str, help_text: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        p.add_argument("--repeat", type=int, default=0, help="which repeat (default 0)")
        p.set_defaults(func=func)   # no cache default here: it would override the main parser's --cache
        return p

    p = command("jaccard", "Jaccard distance of kept weights per layer: two jobs with the same seed, "
                "or one job's rounds", cmd_jaccard)
    p.add_argument("job_a")
    p.add_argument("job_b", nargs="?", default=None)
    p.add_argument("--round", type=int, default=None, help="only this round (-1 = last common round)")
    p.add_argument("--reference", default="previous",
                   help="one job: compare m^(r) with 'previous', 'first', 'last' or a round number")
    p.add_argument("--any-seed", action="store_true", help="compare jobs even if their seeds differ")

    p = command("ensemble", "accuracy of each job's last-round network and of their mean-softmax ensemble",
                cmd_ensemble)
    p.add_argument("jobs", nargs="+")
    p.add_argument("--round", type=int, default=None, help="0 = the dense networks (default: last round)")
    p.add_argument("--device", default=None, help="default: auto")
    p.add_argument("--batch-size", type=int, default=1000)

    p = command("compression", "largest compression ratio and FLOPs speed-up within accuracy drops",
                cmd_compression)
    p.add_argument("jobs", nargs="+")
    p.add_argument("--drops", type=float, nargs="+", default=[0.0, 0.01],
                   help="allowed absolute accuracy drops (0.01 = one percentage point)")
    p.add_argument("--metric", default="test_accuracy", choices=("test_accuracy", "best_test_accuracy"))

    p = command("effective", "explicit and effective sparsity (weights disconnected by downstream pruning)",
                cmd_effective)
    p.add_argument("job")
    p.add_argument("--round", type=int, default=None, help="default: the last finished round")
    p.add_argument("--ignore-bias", action="store_true",
                   help="a unit with no incoming weights is dead even if it has a bias (path count)")
    return parser
