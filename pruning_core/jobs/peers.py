"""Seed peers: queued jobs of one sweep that may train together with a claimed job.

Two jobs are seed peers when they belong to the same sweep, load the same plug-in files, and their
configs are equal except for ``seed``. Such jobs run the same plan on the same model, data and
training section, so their repeats can train as one batched model
(:mod:`pruning_core.batched`), each with its own seed, data order, masks and optimizer state.
Torch-free: the store uses it inside its claim transaction.
"""

from __future__ import annotations

import json


def seedless_key(config: dict) -> str:
    """The config without its ``seed``, as canonical JSON: equal for seed peers."""
    return json.dumps({k: v for k, v in config.items() if k != "seed"}, sort_keys=True)


def are_seed_peers(a: dict, b: dict) -> bool:
    """Whether job records ``a`` and ``b`` are of one sweep and differ only in ``config.seed``."""
    return (a.get("sweep") is not None and a.get("sweep") == b.get("sweep")
            and sorted(a.get("plugins") or []) == sorted(b.get("plugins") or [])
            and seedless_key(a["config"]) == seedless_key(b["config"]))
