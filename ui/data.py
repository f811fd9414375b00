"""Reading what runs left behind, without torch: masks, weights (via a subprocess), facts, tables.

* :func:`load_masks_numpy` (from ``pruning_core.maskfile``) reads the bit-packed mask files with
  numpy alone.
* :func:`load_weights_numpy` asks a short-lived ``python`` subprocess to turn a ``.pt`` state dict
  into float32 arrays, so torch never enters the Streamlit process.
* :func:`describe` runs ``python -m pruning_core describe`` (parameter counts, layer shapes) in a
  subprocess and keeps the answer in ``<cache>/store/describe.json``.
* :func:`seconds_per_epoch`, :func:`compare_table` are pure helpers.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from pruning_core.maskfile import load_masks_numpy  # noqa: F401  (torch-free; re-exported for the pages)
from pruning_core.rundir import RunDir, atomic_write
from pruning_core.summary import method_label, split_variants

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
FALLBACK_FLOPS_PER_SECOND = 2e9      # a 2-core CPU, forward + backward, for a rough estimate
FALLBACK_SECONDS_PER_STEP = 2e-3     # per-iteration overhead of the training loop on a CPU
STARTUP_SECONDS = 8.0                # worker start: import torch, load the dataset


# ---- masks and weights -----------------------------------------------------------------------

_WEIGHTS_SCRIPT = """
import sys, numpy, torch
state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
names = sys.argv[3].split(",")
numpy.savez(sys.argv[2], **{f"w{i}": state[n].float().numpy() for i, n in enumerate(names) if n in state})
"""


def load_weights_numpy(path: str | pathlib.Path, names: list[str], timeout: float = 120.0) -> dict[str, np.ndarray]:
    """The named tensors of a saved state dict as float32 arrays, read in a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "weights.npz"
        subprocess.run([sys.executable, "-c", _WEIGHTS_SCRIPT, str(path), str(out), ",".join(names)],
                       check=True, capture_output=True, timeout=timeout)
        with np.load(out) as data:
            return {n: data[f"w{i}"] for i, n in enumerate(names) if f"w{i}" in data}


# ---- facts about a config --------------------------------------------------------------------

_inspections: dict[tuple[str, str], tuple[subprocess.Popen, pathlib.Path]] = {}
_failed: dict[tuple[str, str], dict] = {}


def known_facts(model: str, dataset: str, cache_dir: pathlib.Path) -> dict | None:
    """The remembered ``describe`` facts of a model/dataset pair, or None."""
    try:
        return json.loads((pathlib.Path(cache_dir) / "store" / "describe.json").read_text()).get(f"{model}|{dataset}")
    except (FileNotFoundError, ValueError, AttributeError):
        return None


def describe_soon(model: str, dataset: str, cache_dir: pathlib.Path) -> dict | None:
    """The facts of :func:`describe` without waiting: remembered ones at once; otherwise the
    subprocess is started (once per pair) and None is returned until it has answered, so a page
    draws at once and fills the facts in when they arrive (importing torch takes seconds)."""
    facts = known_facts(model, dataset, cache_dir)
    if facts is not None:
        return facts
    key = (str(cache_dir), f"{model}|{dataset}")
    if key in _failed:
        return _failed[key]
    if key not in _inspections:
        out = pathlib.Path(cache_dir) / "store" / f"describe-{os.getpid()}-{len(_inspections)}.out"
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = {"model": {"name": model}, "dataset": {"name": dataset}}
        with open(out, "w") as sink, open(out.with_suffix(".err"), "w") as errors:
            proc = subprocess.Popen([sys.executable, "-m", "pruning_core", "--cache", str(cache_dir), "describe",
                                     "--json", json.dumps(partial)], stdout=sink, stderr=errors,
                                    stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT), text=True)
        _inspections[key] = (proc, out)
    proc, out = _inspections[key]
    if proc.poll() is None:
        return None
    del _inspections[key]
    text, error = out.read_text(), out.with_suffix(".err").read_text()
    out.unlink(missing_ok=True)
    out.with_suffix(".err").unlink(missing_ok=True)
    if proc.returncode != 0:
        _failed[key] = {"error": (error.strip().splitlines() or ["describe failed"])[-1]}
        return _failed[key]
    return remember_describe(cache_dir, model, dataset, json.loads(text))


def describe(model: str, dataset: str, cache_dir: pathlib.Path, timeout: float = 300.0) -> dict:
    """``describe`` facts of a model/dataset pair (counts, layers, FLOPs; ``error`` if they do not
    fit), computed once in a subprocess and remembered in ``<cache>/store/describe.json``: waits
    for :func:`describe_soon`'s answer."""
    deadline = time.monotonic() + timeout
    while (facts := describe_soon(model, dataset, cache_dir)) is None:
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(f"describe {model} on {dataset}", timeout)
        time.sleep(0.05)
    return facts


def remember_describe(cache_dir: pathlib.Path, model: str, dataset: str, facts: dict) -> dict:
    """Keep the model facts of a ``describe`` answer in ``<cache>/store/describe.json``."""
    store = pathlib.Path(cache_dir) / "store" / "describe.json"
    try:
        known = json.loads(store.read_text())
    except (FileNotFoundError, ValueError):
        known = {}
    keep = {k: facts.get(k) for k in ("dataset", "n_params", "n_prunable", "output_layer", "layers",
                                      "dense_flops", "error")}
    known[f"{model}|{dataset}"] = keep
    text = json.dumps(known)
    atomic_write(store, lambda f: f.write(text), mode="w")
    return keep


# ---- job records -----------------------------------------------------------------------------

def readable(record: dict) -> bool:
    """Whether a job record could be read (an unreadable one has status ``unreadable``, no config)."""
    return record.get("status") != "unreadable" and isinstance(record.get("config"), dict)


def job_label(record: dict, status: bool = True) -> str:
    """'<id> · <name> · <model>/<dataset> · <method>[ · <status>]'; '<id> · unreadable' for a
    record that could not be read."""
    if not readable(record):
        return f"{record['id']} · unreadable"
    c = record["config"]
    name = record.get("name")
    text = (f"{record['id']}{' · ' + name if name and name != record['id'] else ''} · "
            f"{c['model']['name']}/{c['dataset']['name']} · {method_label(c)}")
    return text + (f" · {record['status']}" if status else "")


def experiment_key(config: dict | None) -> str | None:
    """What defines an experiment apart from its seed and where it runs (to group seeds); None
    for an unreadable record's missing config (it groups with nothing)."""
    if not isinstance(config, dict):
        return None
    data = json.loads(json.dumps(config))
    for key in ("seed", "device", "repeats"):
        data.pop(key, None)
    data.get("dataset", {}).pop("data_dir", None)
    return json.dumps(data, sort_keys=True)


def device_short(label: str | None) -> str:
    """'cuda:0 (NVIDIA H100 80GB HBM3)' -> 'NVIDIA H100 80GB HBM3'; 'cpu (2 threads)' -> 'CPU'."""
    if not label:
        return "not started"
    kind, _, detail = label.partition(" (")
    if kind.startswith("cuda") and detail:
        return detail.rstrip(")")
    return kind.upper() if kind in ("cpu", "mps") else kind


def format_duration(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# ---- estimates -------------------------------------------------------------------------------

def seconds_per_epoch(records_with_epochs: list[tuple[dict, pd.DataFrame]], model: str, dataset: str,
                      batch_size: int) -> float | None:
    """Median measured seconds per epoch of finished jobs with this model, dataset and batch size
    (the first epoch of every round is left out: it pays warm-up costs)."""
    samples = []
    for record, epochs in records_with_epochs:
        if not readable(record):
            continue
        c = record["config"]
        if (c["model"]["name"], c["dataset"]["name"], c["training"]["batch_size"]) != (model, dataset, batch_size):
            continue
        if len(epochs):
            later = epochs[epochs["epoch"] > 1]["seconds"]
            samples += list((later if len(later) else epochs["seconds"]).dropna())
    return float(np.median(samples)) if samples else None


def fallback_seconds_per_epoch(dense_flops: float | None, n_train: int, steps_per_epoch: int) -> float:
    """A rough CPU guess: 3 × forward FLOPs per sample (forward + backward) at a few GFLOP/s,
    plus a fixed cost per step."""
    flops = 3.0 * float(dense_flops or 0) * n_train
    return flops / FALLBACK_FLOPS_PER_SECOND + steps_per_epoch * FALLBACK_SECONDS_PER_STEP


# ---- comparison ------------------------------------------------------------------------------

def compare_table(runs: dict[str, tuple[dict, pd.DataFrame]], baseline: str | None) -> pd.DataFrame:
    """One row per job: final accuracy (median over repeats), final sparsity, search cost in
    retraining epochs, and the speed-up = baseline search cost / this job's search cost."""
    rows = []
    for label, (record, rounds) in runs.items():
        c = record["config"] if readable(record) else None
        row = {"job": label, "method": method_label(c) if c else "unreadable",
               "setup": f"{c['model']['name']}/{c['dataset']['name']}" if c else "?",
               "seeds": c["repeats"] if c else np.nan, "rounds": np.nan, "sparsity %": np.nan, "dense acc %": np.nan,
               "final acc %": np.nan, "cost (epochs)": np.nan}
        if len(rounds) and "variant" in rounds and rounds["variant"].notna().any():
            rounds = split_variants(rounds)[0]          # the trajectory, not ASNI-II-style evaluations
        if len(rounds):
            last_round = rounds["round"].max()
            last = rounds[rounds["round"] == last_round]
            dense = rounds[rounds["round"] == 0]
            row.update({"rounds": int(last_round), "sparsity %": 100 * last["sparsity"].median(),
                        "dense acc %": 100 * dense["test_accuracy"].median() if len(dense) else np.nan,
                        "final acc %": 100 * last["test_accuracy"].median(),
                        "cost (epochs)": float(last["cumulative_epochs"].max())})
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        base = table.loc[table["job"] == baseline, "cost (epochs)"]
        base_cost = float(base.iloc[0]) if len(base) else np.nan
        table["speed-up"] = base_cost / table["cost (epochs)"]
    return table


def summary(record: dict, events: list[dict], rounds: pd.DataFrame) -> dict:
    """The job's summary JSON, the same as the engine's export (``pruning_core.summary``)."""
    from pruning_core.summary import build_summary
    return build_summary(record, events, rounds)


def masks_zip(run_dir: RunDir) -> bytes:
    """Every mask file of a run (``repeat_<i>/round_<r>.npz``, bit-packed) in one zip."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for repeat, _, path in run_dir.mask_files():
            z.write(path, f"masks/repeat_{repeat}/{path.name}")
    return buffer.getvalue()
