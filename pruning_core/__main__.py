"""Command line: ``python -m pruning_core [--plugin FILE] {run,defaults,methods,list,show,export,...}``.

Examples::

    python -m pruning_core defaults > my.json
    python -m pruning_core methods                    # every registered method and its options
    python -m pruning_core --plugin examples/magnitude_increase.py run --set pruner.score=magnitude_increase
    python -m pruning_core run --set dataset.name=fashion_mnist --set algorithm.rounds=5 --out results/
    python -m pruning_core run --config configs/aimp_lenet300_fashion_mnist.toml
    python -m pruning_core recipes                    # paper recipes; then run --recipe NAME
    python -m pruning_core run --recipe quickstart --set algorithm.rounds=3
    python -m pruning_core list
    python -m pruning_core show 20261121-101500-1a2b3c4d
    python -m pruning_core export 20261121-101500-1a2b3c4d --out results/
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys

from .config import ConfigError, defaults, load_config
from .errors import PrunelabError
from .registry import PluginError, load_plugins, plugin_paths_from_env


def _duration(seconds: float | None) -> str:
    return "?" if seconds is None else str(datetime.timedelta(seconds=int(round(seconds))))


def print_event(event: dict) -> None:
    """One line per epoch and per round; status lines for the rest."""
    kind = event["type"]
    if kind == "epoch":
        print(f"  round {event['round']:>2}  epoch {event['epoch']:>3}  lr {event['lr']:.2e}  "
              f"loss {event['train_loss']:.4f}  acc {100 * event['test_accuracy']:6.2f}%  "
              f"sparsity {100 * event['sparsity']:6.2f}%  {event['seconds']:5.1f}s  "
              f"ETA {_duration(event['eta_seconds'])}", flush=True)
    elif kind == "round":
        label = f" [{event['variant']}]" if event.get("variant") else ""
        print(f"== round {event['round']:>2}{label}  sparsity {100 * event['sparsity']:6.2f}%  remaining "
              f"{event['remaining_weights']:,} ({100 * event['remaining_fraction']:.2f}%)  acc "
              f"{100 * event['test_accuracy']:6.2f}% (best {100 * event['best_test_accuracy']:.2f}%)  "
              f"retrain {event['retrain_epochs']} ep (total {event['cumulative_epochs']})  "
              f"{event['seconds']:.1f}s", flush=True)
    elif kind == "run_started":
        print(f"run {event['job']}  repeat {event['repeat']} (seed {event['seed']})  device "
              f"{event['device']}  data {event['dataset_source']}", flush=True)
    elif kind == "asni_summary":
        accs = {k: event[k] for k in ("t1_a_i", "t1_a_ii", "t1_s")}
        print("ASNI  sparsity {:.4f} (target {})  ".format(event["final_sparsity"], event["target_sparsity"]) +
              "  ".join(f"{k.upper().replace('_', '-')} {100 * v:.2f}%" for k, v in accs.items() if v is not None),
              flush=True)
    elif kind == "resumed":
        print(f"resumed repeat {event['repeat']} after round {event['from_round']}", flush=True)
    elif kind.startswith("run_"):
        print(f"{kind.replace('run_', '')}: {event.get('error') or event['job']}", flush=True)


def cmd_defaults(args) -> int:
    """The complete config: the defaults, or what a partial config and --set overrides make of them
    (e.g. ``--set pruner.score=taylor`` shows the Taylor score's options with their defaults)."""
    given = args.config or args.set or args.recipe
    config = load_config(args.config, args.set, recipe=args.recipe) if given else defaults()
    print(json.dumps(config.to_dict(), indent=2))
    return 0


def cmd_recipes(args) -> int:
    """The recipe library: one block per recipe (name, offline or not, title, source); with a
    name, that recipe's fields, notes and where its dataset comes from."""
    from .recipes import RECIPES, dataset_available_offline, get_recipe, how_to_get

    if args.name:
        recipe = get_recipe(args.name)
        print(f"{recipe.name}: {recipe.title}\nsource: {recipe.source}\ndataset: {how_to_get(recipe)}")
        if recipe.notes:
            print(f"notes: {recipe.notes}")
        print("sets:")
        for key, value in recipe.fields().items():
            print(f"  {key} = {json.dumps(value)}")
        return 0
    for recipe in RECIPES.values():
        where = "offline" if dataset_available_offline(recipe) else "download"
        print(f"{recipe.name:<26} {where:<9} {recipe.title}\n{'':<36}source: {recipe.source}")
    return 0


def cmd_methods(args) -> int:
    """Every registered method (built-in, shipped and loaded plug-ins) with its help and options."""
    from .config.fields import field_specs
    from .registry import REGISTRIES

    for kind, registry in REGISTRIES.items():
        print(f"{kind} ({registry.field}):")
        for name in registry.names():
            entry = registry.entry(name)
            print(f"  {name:<20} {entry.help}")
            target = entry.load() if kind not in ("model", "dataset", "unit") else None
            if isinstance(target, type) and hasattr(target, "__dataclass_fields__"):
                for spec in field_specs(target):
                    print(f"  {'':<22}{spec.path} = {json.dumps(spec.default)}: {spec.help}")
    return 0


def cmd_reference(args) -> int:
    """The configuration reference as Markdown, or written into a file's reference block."""
    from .config.reference import reference_markdown, update

    if args.update:
        print(f"{args.update}: {'updated' if update(args.update) else 'already current'}")
    else:
        print(reference_markdown(), end="")
    return 0


def cmd_run(args) -> int:
    from .export import export_result
    from .runner import run

    config = load_config(args.config, args.set, recipe=args.recipe)
    plan = config.plan()
    print(f"config {config.hash()[:12]}: {config.model.name} on {config.dataset.name}, {plan.headline}, "
          f"search cost {plan.search_cost()} epochs", flush=True)
    on_event, board = (None if args.quiet else print_event), None
    if args.tensorboard is not None:     # TensorBoard files written from the events as they come
        from .tensorboard import run_sink
        on_event = board = run_sink(args.cache, args.tensorboard or None, forward=on_event)
    try:
        result = run(config, on_event, cache_dir=args.cache, origin="cli")
    except KeyboardInterrupt:
        print("interrupted: finished rounds are kept in the store", file=sys.stderr)
        return 130
    finally:
        if board is not None:
            board.close()
    if board is not None and board.logdir is not None:
        print(f"wrote TensorBoard logs to {board.logdir}")
    if args.out:
        for path in export_result(result, args.out):
            if path.suffix != ".npz":
                print(f"wrote {path}")
    print(f"job {result.job_id}: {result.status}")
    return 0 if result.status == "finished" else 1


def _one_line(text: object) -> str:
    """Text from a stored record on one printable line (control characters escaped)."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def cmd_list(args) -> int:
    """One line per job; a record that cannot be read (status "unreadable", no config) shows its
    id, that status and why."""
    from .jobs.labels import matches
    from .jobs.store import JobStore
    from .summary import method_label

    with JobStore(args.cache) as store:
        jobs = [j for j in store.list_jobs() if matches(j, args.tag, args.match)]
    if not jobs:
        print("no jobs")
    for job in jobs:
        c = job.get("config")
        if c is None:
            print(f"{_one_line(job.get('id'))}  {_one_line(job.get('status') or 'unreadable')}  "
                  f"{_one_line(job.get('error') or '')}".rstrip())
            continue
        p = job.get("progress") or {}
        print(f"{job['id']:<32} {job['status']:<12} {c['model']['name']:<14} {c['dataset']['name']:<14} "
              f"{method_label(c)}  epochs {p.get('epochs_done', 0)}/{p.get('epochs_total') or '?'}  {job['origin']}"
              + "".join(f"  #{_one_line(t)}" for t in job.get("tags") or []))
    return 0


def cmd_show(args) -> int:
    from .runner import load_result

    result = load_result(args.job, cache_dir=args.cache)
    print(json.dumps({k: v for k, v in result.summary.items() if k != "per_round"}, indent=2, default=str))
    if len(result.rounds):
        shown = result.rounds.drop(columns=[c for c in ("layer_sparsity", "weight_stability") if c in result.rounds])
        print(shown.to_string(index=False))
    return 0


def cmd_export(args) -> int:
    from .export import export_result
    from .runner import load_result

    if args.out is None and args.tensorboard is None:
        print("error: export needs --out DIR, --tensorboard [DIR], or both", file=sys.stderr)
        return 2
    if args.out is not None:
        for path in export_result(load_result(args.job, cache_dir=args.cache), args.out):
            print(f"wrote {path}")
    if args.tensorboard is not None:
        from .tensorboard import export_job
        logdir = export_job(args.job, cache_dir=args.cache, logdir=args.tensorboard or None)
        print(f"wrote TensorBoard logs to {logdir}")
    return 0


def cmd_describe(args) -> int:
    """Facts the app shows before launching, as JSON (the app calls this instead of importing torch)."""
    from .config.values import flat_values
    from .describe import describe

    from .config.io import parse_config_text

    if args.json is None:
        config = load_config(args.config, args.set, recipe=args.recipe)
    else:
        data = parse_config_text(args.json, "json", "--json", field="--json")
        config = load_config(None, [f"{k}={json.dumps(v)}" for k, v in flat_values(data).items()])
    print(json.dumps(describe(config)))
    return 0


def cmd_compact(args) -> int:
    """Physically remove a structured job's dead filters/channels; time both models in one call."""
    from .analysis.ensemble import load_member
    from .compaction import compaction_report
    from .data import DATASETS
    from .runner import load_result

    result = load_result(args.job, cache_dir=args.cache)
    spec = DATASETS[result.config.dataset.name]
    model = load_member(args.job, args.cache, args.repeat)
    report = compaction_report(model, result.masks(-1, args.repeat), (spec.in_channels, *spec.input_size),
                               batch_size=args.batch_size, repeats=args.repeats)
    print(json.dumps(report, indent=2, default=str))
    return 0


def cmd_worker(args) -> int:
    from .jobs.worker import work

    return work(cache_dir=args.cache, idle_exit_seconds=args.idle_exit, slots=args.slots)


def _slots(text: str) -> int | None:
    """``--slots``: a positive count, or ``auto`` (one per GPU, else per the CPU)."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}; allowed: a positive number of slots, or auto")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pruning_core", description="Prunelab engine")
    parser.add_argument("--cache", default=None, help="cache dir (job store, runs); default "
                        "$PRUNELAB_CACHE or <repo>/cache")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE",
                        help="load a plug-in file (or a folder of them) before anything else; repeatable. "
                        "Default: $PRUNELAB_PLUGINS, else ./plugins/")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("defaults", help="print the complete default config as JSON (with --set: what it makes)")
    p.add_argument("--recipe", metavar="NAME", help="start from a paper recipe (see: recipes); --config and --set "
                   "apply over it")
    p.add_argument("--config", help="partial JSON or TOML config; missing fields take defaults")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_defaults)
    p = sub.add_parser("recipes", help="list the paper recipes (name, offline or download, title, source)")
    p.add_argument("name", nargs="?", help="show one recipe: the fields it sets, its notes, its dataset")
    p.set_defaults(func=cmd_recipes)
    sub.add_parser("methods", help="list every registered method with its help and options").set_defaults(
        func=cmd_methods)
    p = sub.add_parser("reference", help="the configuration reference as Markdown (generated from the metadata)")
    p.add_argument("--update", metavar="FILE", help="rewrite FILE's reference block (README.md) instead of printing")
    p.set_defaults(func=cmd_reference)
    p = sub.add_parser("run", help="run an experiment (one line per epoch and round)")
    p.add_argument("--recipe", metavar="NAME", help="start from a paper recipe (see: recipes); --config and --set "
                   "apply over it")
    p.add_argument("--config", help="partial JSON or TOML config; missing fields take defaults")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override, e.g. --set algorithm.rounds=5 (repeatable)")
    p.add_argument("--out", help="export rounds.csv, epochs.csv, summary.json and masks here")
    p.add_argument("--quiet", action="store_true", help="print only the final status")
    p.add_argument("--tensorboard", nargs="?", const="", metavar="DIR", help="write TensorBoard logs (scalars per "
                   "epoch and round, mask images) to DIR; default the job's runs/<job>/tensorboard/")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("list", help="list the jobs in the store")
    p.add_argument("--tag", action="append", default=[], help="only jobs with this tag (repeatable: all of them)")
    p.add_argument("--match", default="", help="only jobs with this text in their id, name, note or tags")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("show", help="summary and rounds of one job")
    p.add_argument("job")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("export", help="write a job's CSVs, summary and masks to a folder")
    p.add_argument("job")
    p.add_argument("--out", help="the folder for the CSVs, summary and masks")
    p.add_argument("--tensorboard", nargs="?", const="", metavar="DIR", help="write the job's TensorBoard logs "
                   "from its events and masks to DIR; default its runs/<job>/tensorboard/")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("describe", help="JSON facts of a config: parameters, layers, FLOPs, plan")
    p.add_argument("--recipe", metavar="NAME", help="start from a paper recipe (see: recipes); --config and --set "
                   "apply over it")
    p.add_argument("--config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", help="the config as a JSON string (instead of --config/--set)")
    p.set_defaults(func=cmd_describe)
    p = sub.add_parser("compact", help="compact a structured job's last round; dense vs compacted latency")
    p.add_argument("job")
    p.add_argument("--repeat", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=30, help="timed batches per model (median reported)")
    p.set_defaults(func=cmd_compact)
    p = sub.add_parser("worker", help="run queued jobs from the store (started by the app)")
    p.add_argument("--idle-exit", type=float, default=10.0,
                   help="exit after this many seconds with an empty queue")
    p.add_argument("--slots", type=_slots, default=1,
                   help="jobs run at once: a number, or auto (one per GPU, else one per CPU core); default 1")
    p.set_defaults(func=cmd_worker)
    from .analysis.cli import add_analysis_commands
    from .jobs.cli import add_job_commands
    from .sweeps.cli import add_sweep_commands
    add_analysis_commands(sub)
    add_job_commands(sub)
    add_sweep_commands(sub)
    args = parser.parse_args(argv)
    try:
        load_plugins(args.plugin or plugin_paths_from_env())
        return args.func(args)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:             # an invalid config, or a --config file that cannot be read
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PrunelabError as exc:           # store, record, artifact, divergence: named in the message
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a clean one-line error for users; the job record keeps the traceback
        from .data import DatasetNotAvailable
        from .models import ModelDatasetMismatch

        if isinstance(exc, (DatasetNotAvailable, ModelDatasetMismatch, ValueError)):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
