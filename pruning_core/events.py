"""The records a run emits, as plain JSON-ready dicts (numbers, strings, small dicts).

Events are the single source of every result: the CLI prints them, the store appends them, the
app draws them and the exports are tables built from them (:func:`events_to_frames`). Types:

``run_started``  job, config_hash, device, repeat, seed, n_params, n_prunable, planned_epochs,
                 dataset_source, seeds_together (trained as one batched model with other repeats),
                 trained_with (the other jobs of that batched model, when there are any)
``epoch``        repeat, round, epoch (1-based within the round), schedule_epoch (position in the
                 original LR schedule), lr, train_loss, test_loss, test_accuracy, sparsity,
                 cumulative_epochs, seconds, eta_seconds
``round``        repeat, round (0 = dense), sparsity, remaining_fraction, remaining_weights,
                 total_weights, test_accuracy, best_test_accuracy, retrain_epochs,
                 cumulative_epochs, seconds, layer_sparsity {layer: fraction}, flops, mask_file
``run_finished`` / ``run_cancelled`` / ``run_failed`` (error, traceback)   status changes
``resumed``      repeat, from_round: events of later rounds emitted before it are superseded
"""

from __future__ import annotations

import time
from typing import Any

Event = dict[str, Any]

ROUND_COLUMNS = ["repeat", "seed", "round", "sparsity", "remaining_fraction", "remaining_weights",
                 "test_accuracy", "best_test_accuracy", "retrain_epochs", "cumulative_epochs", "seconds"]
# Optional per-round columns, exported after the fixed ones when a run has them.
ROUND_EXTRA_COLUMNS = ["effective_sparsity", "flops", "dense_flops", "dense_bytes", "sparse_bytes",
                       "stability_to_pruning", "stability_to_pruning_relative", "variant", "lr_policy", "allr_d",
                       "planned_sparsity", "test_accuracy_before_pruning"]
ROUND_DICT_COLUMNS = ["layer_sparsity", "weight_stability"]
EPOCH_COLUMNS = ["repeat", "round", "epoch", "schedule_epoch", "lr", "train_loss", "test_loss",
                 "test_accuracy", "sparsity", "seconds"]
EPOCH_EXTRA_COLUMNS = ["mask_change_D", "mask_change_D_tilde", "linf", "l1_top_k"]


def make_event(kind: str, **fields: Any) -> Event:
    """An event record of type ``kind`` stamped with the wall-clock time."""
    return {"type": kind, "time": time.time(), **fields}


def events_to_frames(events: list[Event]):
    """(rounds, epochs) pandas DataFrames from a run's events.

    What a run emitted after its last commit and before a ``resumed`` event never counts: the
    resume recomputes those rounds, and where it re-emitted a round or epoch the last record of
    each key wins, so a resume never duplicates or mixes rows.
    """
    import pandas as pd

    kept = committed_events(events)
    rounds = [e for e in kept if e["type"] == "round"]
    epochs = [e for e in kept if e["type"] == "epoch"]
    rounds_df = pd.DataFrame(rounds)
    rounds_df = rounds_df.reindex(columns=ROUND_COLUMNS + [c for c in ROUND_EXTRA_COLUMNS + ROUND_DICT_COLUMNS
                                                           if c in rounds_df])
    epochs_df = pd.DataFrame(epochs)
    epochs_df = epochs_df.reindex(columns=EPOCH_COLUMNS + [c for c in EPOCH_EXTRA_COLUMNS if c in epochs_df])
    if len(rounds_df):
        rounds_df = rounds_df.drop_duplicates(["repeat", "round"], keep="last").sort_values(["repeat", "round"])
    if len(epochs_df):
        epochs_df = epochs_df.drop_duplicates(["repeat", "round", "epoch"], keep="last").sort_values(
            ["repeat", "round", "epoch"])
    return rounds_df.reset_index(drop=True), epochs_df.reset_index(drop=True)


def committed_events(events: list[Event]) -> list[Event]:
    """``events`` without the round and epoch events that a later ``resumed`` event supersedes
    (those of its repeat with a round after ``from_round``, emitted before it)."""
    kept: list[Event] = []
    for event in events:
        if event["type"] == "resumed":
            repeat, done = event.get("repeat"), event.get("from_round", -1)
            kept = [e for e in kept if not (e["type"] in ("round", "epoch") and e.get("repeat") == repeat
                                            and e.get("round", 0) > done)]
        kept.append(event)
    return kept


def aggregate_rounds(rounds):
    """Median, min and max over repeats per round (the papers report medians of 5 runs)."""
    metrics = ["sparsity", "remaining_fraction", "remaining_weights", "test_accuracy", "best_test_accuracy"]
    grouped = rounds.groupby("round")
    out = grouped[["retrain_epochs", "cumulative_epochs"]].first()
    for m in metrics:
        out[f"{m}_median"] = grouped[m].median()
        out[f"{m}_min"] = grouped[m].min()
        out[f"{m}_max"] = grouped[m].max()
    out["repeats"] = grouped.size()
    return out.reset_index()
