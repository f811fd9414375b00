"""Export a job's results to a folder: CSV tables, a JSON summary and the masks.

``rounds.csv``     one row per (repeat, round); round 0 is the dense network (the fixed columns,
                   then optional ones a run has: effective sparsity, FLOPs, bytes, stability, ...)
``epochs.csv``     one row per (repeat, round, epoch)
``rounds_aggregate.csv``  median / min / max over repeats per round (when repeats > 1)
``summary.json``   config, config hash, device, status and totals
``masks/``         the bit-packed masks of every round (``repeat_<i>/round_<r>.npz``)
"""

from __future__ import annotations

import json
import pathlib
import shutil

from .events import EPOCH_EXTRA_COLUMNS, EPOCH_COLUMNS, ROUND_COLUMNS, ROUND_EXTRA_COLUMNS, aggregate_rounds
from .errors import CorruptArtifact
from .runner import RunResult


def _mask_files(result: RunResult) -> list[tuple[int, int, pathlib.Path]]:
    """(repeat, round, file) of every round the result has; CorruptArtifact naming the job and
    the missing files if any round's masks are gone (a deleted or damaged run folder)."""
    files = result.run_dir.mask_files()
    present = {(i, r) for i, r, _ in files}
    missing = [result.run_dir.repeat(int(i)).mask_file(int(r)) for i, r in
               zip(result.rounds["repeat"], result.rounds["round"]) if (int(i), int(r)) not in present] \
        if len(result.rounds) else []
    if missing:
        shown = ", ".join(str(p) for p in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise CorruptArtifact(f"job {result.job_id}: the masks of {len(missing)} finished round(s) are missing "
                              f"({shown}); was the run folder {result.run_dir.root} deleted?")
    return files


def export_result(result: RunResult, out_dir: str | pathlib.Path) -> list[pathlib.Path]:
    """Write the export files of ``result`` into ``out_dir``; return the paths written."""
    mask_files = _mask_files(result)           # refuse an incomplete export before writing anything
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    rounds_path = out / "rounds.csv"
    rounds = result.rounds
    rounds.reindex(columns=ROUND_COLUMNS + [c for c in ROUND_EXTRA_COLUMNS if c in rounds]).to_csv(
        rounds_path, index=False)
    epochs_path = out / "epochs.csv"
    epochs = result.epochs
    epochs.reindex(columns=EPOCH_COLUMNS + [c for c in EPOCH_EXTRA_COLUMNS if c in epochs]).to_csv(
        epochs_path, index=False)
    written += [rounds_path, epochs_path]
    if result.config.repeats > 1 and len(result.rounds):
        aggregate_path = out / "rounds_aggregate.csv"
        aggregate_rounds(result.rounds).to_csv(aggregate_path, index=False)
        written.append(aggregate_path)
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps(result.summary, indent=2, default=str))
    written.append(summary_path)
    for repeat, _, mask_file in mask_files:
        target = out / "masks" / f"repeat_{repeat}" / mask_file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(mask_file, target)
        written.append(target)
    return written
