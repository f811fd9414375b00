"""The store's size on disk, and ``gc``: what deleted or crashed processes leave behind.

``gc`` removes run folders no job record names (a deletion interrupted between the record and
its folder, or folders copied in by hand) and finishes the deletions of jobs that have stopped
since they were deleted. It never touches a folder while any record of the store is unreadable,
because that record's folder cannot be told apart from an orphan: nothing computed is lost.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from dataclasses import dataclass, field


def folder_size(root: pathlib.Path) -> int:
    """Bytes of every file under ``root`` (files that vanish while counting are skipped)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def human_size(n: int) -> str:
    """``1.4 GB``-style text for a byte count (powers of 1,000, as file managers show)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


@dataclass
class Collected:
    """What ``gc`` removed (or would remove, with ``dry_run``)."""

    purged: list[str] = field(default_factory=list)        # deleted jobs that had stopped since
    orphans: list[pathlib.Path] = field(default_factory=list)
    freed: int = 0
    refused: str | None = None                             # why no folder was touched


def orphan_run_dirs(store) -> tuple[list[pathlib.Path], str | None]:
    """(run folders without a job record, None), or ([], why none can be judged)."""
    keys = store._keys()
    unreadable = [reason for job_id, reason in keys if job_id is None]
    if unreadable:
        return [], f"{len(unreadable)} record(s) of the store cannot be read ({unreadable[0]})"
    known = {job_id for job_id, _ in keys}
    if not store.runs.is_dir():
        return [], None
    return sorted(p for p in store.runs.iterdir() if p.is_dir() and p.name not in known), None


def collect(store, dry_run: bool = False) -> Collected:
    """Finish stopped jobs' deletions and remove orphaned run folders; report what went."""
    out = Collected()
    if not dry_run:
        out.purged = store.purge_deleted()
    out.orphans, out.refused = orphan_run_dirs(store)
    for folder in out.orphans:
        out.freed += folder_size(folder)
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
    return out
