"""Shared dense training: jobs whose round 0 is the same train it once (OpenLTH's levels by hash).

Round 0 — the dense network trained from θ₀, with its rewind checkpoints θ_k — depends only on
the model, the dataset, the training recipe, the seed of the repeat, round 0's plan (epochs, LR,
checkpoints) and the analyses that add fields to its events. :func:`dense_key` hashes exactly
those; jobs with equal keys (a sweep over pruners, rates or LR policies at one seed) can share it.

The first job to train a key *publishes* it under ``<cache>/dense/<key>/``: θ₀, the checkpoints,
the trained weights, the (full) round-0 masks and the round-0 events. A later job with the same
key copies those files into its own run folder, re-emits the events (marked ``dense_from`` with
the job that trained them) and starts at round 1. Because every round's randomness is seeded by
(seed, r), its ``rounds.csv`` is identical to one that trained round 0 itself; a test checks it.

This module is torch-free (the key is computed when a job is queued); publishing and reusing act
on files through :mod:`pruning_core.rundir`.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
from typing import Any

FORMAT = 1                 # bump when round 0's training or events change meaning
DENSE_DIR = "dense"


def dense_key(config: Any, repeat: int) -> str | None:
    """The hash of everything that determines round 0 of ``repeat``, or None when round 0 cannot
    be shared (the algorithm prunes or treats weights in round 0, keeps its optimizer across
    rounds, or orders its rounds itself)."""
    from .algorithms.base import Algorithm

    plan = config.plan()
    first = plan.rounds[0] if plan.rounds else None
    if first is None or first.index != 0 or first.prune is not None or first.treatment is not None \
            or first.optimizer != "fresh" or type(config.algorithm).run_round is not Algorithm.run_round:
        return None
    data = config.to_dict()
    dataset = {k: v for k, v in data["dataset"].items() if k not in ("data_dir", "download")}
    training = {k: v for k, v in data["training"].items() if k != "eval_batch_size"}
    identity = {"format": FORMAT, "model": data["model"], "dataset": dataset, "training": training,
                "analysis": data["analysis"], "seed": config.seed + repeat, "round0": repr(first)}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def dense_keys(config: Any) -> list[str | None]:
    """:func:`dense_key` of every repeat."""
    return [dense_key(config, r) for r in range(config.repeats)]


def dense_folder(cache_root: pathlib.Path, key: str) -> pathlib.Path:
    return pathlib.Path(cache_root) / DENSE_DIR / key


def published(cache_root: pathlib.Path, key: str | None) -> bool:
    """Whether round 0 of ``key`` is available to reuse."""
    return key is not None and (dense_folder(cache_root, key) / "source.json").is_file()


def publish(cache_root: pathlib.Path, key: str, files: Any, events: list[dict], source: dict) -> None:
    """Store round 0 of a repeat (``files``: its :class:`~pruning_core.rundir.RepeatDir`, round 0
    committed) under its key: copied to a private temporary folder, then renamed into place, so
    a reader sees all of it or nothing. A key someone else published first is left as it is."""
    target = dense_folder(cache_root, key)
    if target.exists():
        return
    tmp = target.with_name(f".{key}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "weights").mkdir(parents=True, mode=0o700)
    (tmp / "masks").mkdir(mode=0o700)
    for path in (files.folder / "weights").iterdir():
        if not path.name.startswith(".") and _is_round0_weight(path):
            shutil.copy2(path, tmp / "weights" / path.name)
    shutil.copy2(files.mask_file(0), tmp / "masks" / files.mask_file(0).name)
    (tmp / "events.json").write_text(json.dumps(events))
    (tmp / "source.json").write_text(json.dumps(source))
    try:
        os.rename(tmp, target)
    except OSError:                       # published meanwhile by another job
        shutil.rmtree(tmp, ignore_errors=True)


def _is_round0_weight(path: pathlib.Path) -> bool:
    """Weights that exist once round 0 is done: θ₀, checkpoints and round 0's trained weights
    (never a later round's)."""
    name = path.stem
    return not (name.startswith("round_") and name != "round_000")


def reuse(cache_root: pathlib.Path, key: str, files: Any) -> tuple[list[dict], dict]:
    """Copy a published round 0 into a repeat's folder; return its events and its source."""
    folder = dense_folder(cache_root, key)
    for sub in ("weights", "masks"):
        (files.folder / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        for path in (folder / sub).iterdir():
            shutil.copy2(path, files.folder / sub / path.name)
    return json.loads((folder / "events.json").read_text()), json.loads((folder / "source.json").read_text())
