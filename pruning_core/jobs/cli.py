"""``rm``, ``label`` and ``gc``: managing the store's jobs from the command line.

    python -m pruning_core rm JOB [JOB ...] [--yes]      # a running job is cancelled, then removed
    python -m pruning_core label JOB --name N --tag baseline --tag lenet --note "first try"
    python -m pruning_core list --tag baseline --match lenet
    python -m pruning_core gc [--dry-run]                # orphaned run folders, finished deletions
"""

from __future__ import annotations

import sys

__all__ = ["add_job_commands"]


def confirm(question: str) -> bool:
    """Ask on the terminal; never assume yes when nobody can answer."""
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_rm(args) -> int:
    from .store import JobStore

    with JobStore(args.cache) as store:
        missing = [j for j in args.jobs if j not in set(store.job_ids())]
        if missing:
            print(f"error: no job {', '.join(missing)} in {store.root} (nothing deleted)", file=sys.stderr)
            return 1
        if not args.yes and not confirm(f"delete {len(args.jobs)} job(s) with their run folders?"):
            print("error: not confirmed: add --yes to delete without asking (nothing deleted)", file=sys.stderr)
            return 1
        for job_id in args.jobs:
            outcome = store.delete_job(job_id)
            print(f"{job_id}: {'deleted' if outcome == 'deleted' else 'cancelled; deleted once it stops'}")
    return 0


def cmd_label(args) -> int:
    from .labels import label_fields
    from .store import JobStore

    with JobStore(args.cache) as store:
        record = store.get_job(args.job)
        tags = None
        if args.tag or args.untag:
            tags = [t for t in (record.get("tags") or []) if t not in args.untag] + list(args.tag)
        fields = label_fields(args.name, tags, args.note)
        if not fields:
            print("error: nothing to change: give --name, --tag, --untag or --note", file=sys.stderr)
            return 1
        record = store.update_job(args.job, **fields)
    print(f"{record['id']}: name {record['name']!r}, tags {', '.join(record.get('tags') or []) or 'none'}"
          + (f", note {record['note']!r}" if record.get("note") else ""))
    return 0


def cmd_gc(args) -> int:
    from .housekeeping import collect, folder_size, human_size
    from .store import JobStore

    with JobStore(args.cache) as store:
        before = folder_size(store.root)
        out = collect(store, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for folder in out.orphans:
        print(f"{verb} orphaned run folder {folder}")
    for job_id in out.purged:
        print(f"finished deleting {job_id}")
    if out.refused:
        print(f"no run folder touched: {out.refused}")
    print(f"{verb} {len(out.orphans)} folder(s), {human_size(out.freed)}; the store holds {human_size(before)}")
    return 0


def add_job_commands(sub) -> None:
    """The ``rm``, ``label`` and ``gc`` sub-commands on the main parser's subparsers."""
    p = sub.add_parser("rm", help="delete jobs with their run folders (a running one is cancelled first)")
    p.add_argument("jobs", nargs="+", metavar="JOB")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(func=cmd_rm)
    p = sub.add_parser("label", help="give a job a name, tags and a note")
    p.add_argument("job", metavar="JOB")
    p.add_argument("--name")
    p.add_argument("--tag", action="append", default=[], help="add a tag (repeatable)")
    p.add_argument("--untag", action="append", default=[], help="remove a tag (repeatable)")
    p.add_argument("--note", help="replace the note ('' clears it)")
    p.set_defaults(func=cmd_label)
    p = sub.add_parser("gc", help="remove orphaned run folders; finish deletions of stopped jobs")
    p.add_argument("--dry-run", action="store_true", help="only say what would go")
    p.set_defaults(func=cmd_gc)
