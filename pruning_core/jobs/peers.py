"""Lockstep peers: queued jobs of one sweep that may train together with a claimed job.

Two jobs are peers when they belong to the same sweep, load the same plug-in files, and have the
same lockstep key (:func:`pruning_core.lockstep.lockstep_key`, stored in the record when the sweep
was queued): every round of theirs trains the same way, whatever their seeds, pruners, rates or
treatments. Their repeats can then train as one batched model (:mod:`pruning_core.batched`).
Torch-free and config-free: the store compares records inside its transaction.
"""

from __future__ import annotations


def are_peers(a: dict, b: dict) -> bool:
    """Whether job records ``a`` and ``b`` are of one sweep and train in lockstep."""
    return (a.get("sweep") is not None and a.get("sweep") == b.get("sweep")
            and a.get("lockstep_key") is not None and a.get("lockstep_key") == b.get("lockstep_key")
            and sorted(a.get("plugins") or []) == sorted(b.get("plugins") or []))
