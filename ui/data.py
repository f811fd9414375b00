"""Reading what runs left behind, without torch: masks, weights (via a subprocess), facts, tables.

* :func:`load_masks_numpy` reads the engine's bit-packed mask files with numpy alone (the same
  format as ``pruning_core.masks.save_masks``; that module imports torch at its top, so the app
  cannot import it).
* :func:`load_weights_numpy` asks a short-lived ``python`` subprocess to turn a ``.pt`` state dict
  into float32 arrays, so torch never enters the Streamlit process.
* :func:`describe` runs ``python -m pruning_core describe`` (parameter counts, layer shapes) in a
  subprocess and keeps the answer in ``<cache>/store/describe.json``.
* :func:`effective_status`, :func:`seconds_per_epoch`, :func:`compare_table` are pure helpers.
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

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
FALLBACK_FLOPS_PER_SECOND = 2e9      # a 2-core CPU, forward + backward, for a rough estimate
FALLBACK_SECONDS_PER_STEP = 2e-3     # per-iteration overhead of the training loop on a CPU
STARTUP_SECONDS = 8.0                # worker start: import torch, load the dataset


# ---- masks and weights -----------------------------------------------------------------------

def load_masks_numpy(path: str | pathlib.Path) -> dict[str, np.ndarray]:
    """Read a bit-packed mask file (``round_XXX.npz``) as {layer: bool array}."""
    with np.load(path) as data:
        index = json.loads(data["__index__"].tobytes().decode())
        out = {}
        for i, entry in enumerate(index):
            n = int(np.prod(entry["shape"]))
            out[entry["name"]] = np.unpackbits(data[f"m{i}"], count=n).astype(bool).reshape(entry["shape"])
        return out


def mask_files(run_dir: pathlib.Path, repeat: int = 0) -> dict[int, pathlib.Path]:
    """{round: mask file} of one repeat, for the rounds finished so far."""
    folder = pathlib.Path(run_dir) / f"repeat_{repeat}" / "masks"
    return {int(p.stem.split("_")[1]): p for p in sorted(folder.glob("round_*.npz"))}


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

def describe(model: str, dataset: str, cache_dir: pathlib.Path, timeout: float = 300.0) -> dict:
    """``describe`` facts of a model/dataset pair (counts, layers, FLOPs; ``error`` if they do not
    fit), computed once in a subprocess and remembered in ``<cache>/store/describe.json``."""
    key = f"{model}|{dataset}"
    store = pathlib.Path(cache_dir) / "store" / "describe.json"
    try:
        known = json.loads(store.read_text())
    except (FileNotFoundError, ValueError):
        known = {}
    if key in known:
        return known[key]
    partial = {"model": {"name": model}, "dataset": {"name": dataset}}
    proc = subprocess.run([sys.executable, "-m", "pruning_core", "--cache", str(cache_dir), "describe",
                           "--json", json.dumps(partial)], capture_output=True, text=True,
                          timeout=timeout, cwd=str(REPO_ROOT))
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["describe failed"])[-1]}
    return remember_describe(cache_dir, model, dataset, json.loads(proc.stdout))


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
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.with_name(f"describe.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(known))
    tmp.replace(store)
    return keep


# ---- job records -----------------------------------------------------------------------------

def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def effective_status(record: dict, now: float | None = None, local: bool = True) -> str:
    """The record's status, with a running job whose worker process is gone shown as interrupted
    (the store does so after a 30 s stale heartbeat; on this machine the pid tells sooner)."""
    status = record["status"]
    now = time.time() if now is None else now
    if status == "running" and local and record.get("worker_pid") and \
            now - (record.get("heartbeat") or now) > 3.0 and not pid_alive(record["worker_pid"]):
        return "interrupted"
    return status


def job_label(record: dict, status: bool = True) -> str:
    c = record["config"]
    name = record.get("name")
    text = (f"{record['id']}{' · ' + name if name and name != record['id'] else ''} · "
            f"{c['model']['name']}/{c['dataset']['name']} · {rewind_label(c)} × {c['algorithm']['rounds']}")
    return text + (f" · {record['status']}" if status else "")


def rewind_label(config: dict) -> str:
    a = config["algorithm"]
    method = {"weights": "WR", "lr": "LRR", "none": "FT"}[a["rewind"]]
    prefix = "AIMP" if a.get("partial_epochs") else "IMP"
    return f"{prefix}+{method}"


def experiment_key(config: dict) -> str:
    """What defines an experiment apart from its seed and where it runs (to group seeds)."""
    data = json.loads(json.dumps(config))
    for key in ("seed", "device", "repeats"):
        data.pop(key, None)
    data.get("dataset", {}).pop("data_dir", None)
    return json.dumps(data, sort_keys=True)


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
        row = {"job": label, "status": record["status"], "method": rewind_label(record["config"]),
               "model": record["config"]["model"]["name"], "dataset": record["config"]["dataset"]["name"],
               "repeats": record["config"]["repeats"], "rounds": np.nan, "final sparsity %": np.nan,
               "dense acc %": np.nan, "final acc %": np.nan, "search cost (epochs)": np.nan}
        if len(rounds):
            last_round = rounds["round"].max()
            last = rounds[rounds["round"] == last_round]
            dense = rounds[rounds["round"] == 0]
            row.update({"rounds": int(last_round), "final sparsity %": 100 * last["sparsity"].median(),
                        "dense acc %": 100 * dense["test_accuracy"].median() if len(dense) else np.nan,
                        "final acc %": 100 * last["test_accuracy"].median(),
                        "search cost (epochs)": float(last["cumulative_epochs"].max())})
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        base = table.loc[table["job"] == baseline, "search cost (epochs)"]
        base_cost = float(base.iloc[0]) if len(base) else np.nan
        table["speed-up vs baseline"] = base_cost / table["search cost (epochs)"]
    return table


def summary(record: dict, events: list[dict], rounds: pd.DataFrame) -> dict:
    """The job's summary JSON: config, hash, status, device, totals and per-round medians (the
    same fields as the engine's ``runner.build_summary``, which imports torch)."""
    from pruning_core.events import aggregate_rounds

    started, finished = record.get("started"), record.get("finished")
    out = {"job": record["id"], "name": record.get("name"), "status": record["status"],
           "config": record["config"], "config_hash": record["config_hash"], "device": record.get("device"),
           "error": record.get("error"), "started": started, "finished": finished,
           "totals": {"epochs_trained": sum(1 for e in events if e["type"] == "epoch"),
                      "seconds": ((finished or time.time()) - started) if started else None}}
    if len(rounds):
        last = rounds[rounds["round"] == rounds["round"].max()]
        out["totals"].update(
            rounds_finished=int(rounds["round"].max()),
            search_cost_epochs=int(last["cumulative_epochs"].max()),
            final_sparsity=float(last["sparsity"].median()),
            final_test_accuracy_median=float(last["test_accuracy"].median()),
            dense_test_accuracy_median=float(rounds[rounds["round"] == 0]["test_accuracy"].median()))
        out["per_round"] = aggregate_rounds(rounds.drop(columns=["layer_sparsity", "flops"], errors="ignore")
                                            ).to_dict(orient="records")
    return out


def masks_zip(run_dir: pathlib.Path) -> bytes:
    """Every mask file of a run (``repeat_<i>/round_<r>.npz``, bit-packed) in one zip."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for path in sorted(pathlib.Path(run_dir).glob("repeat_*/masks/round_*.npz")):
            z.write(path, f"masks/{path.parent.parent.name}/{path.name}")
    return buffer.getvalue()
