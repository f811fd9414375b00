"""The checks of ``dev.py gpu-check`` that run whole jobs on the device: the engine's ``run``, the
job worker, and a sweep's lockstep peers (the step-level checks and the figures are in
``gpu_check.py``, which imports these).
"""

from __future__ import annotations

import os
import time

import torch


def check_imp_sparsities(device, dataset, tmp) -> dict:
    from pruning_core import run

    def sparsities(dev):
        config = {"device": str(dev), "dataset": {"name": dataset},
                  "training": {"epochs": 1, "batch_size": 100},
                  "algorithm": {"rounds": 3, "rate": 0.2, "treatment": "rewind", "rewind_epoch": 0}}
        result = run(config, cache_dir=tmp / f"imp-{dev.type}", share_dense=False)
        return [round(float(s), 9) for s in result.rounds.sort_values("round")["sparsity"]]

    on_device, on_cpu = sparsities(device), sparsities(torch.device("cpu"))
    return {"ok": on_device == on_cpu and len(on_cpu) == 4, "device": on_device, "cpu": on_cpu}


def check_worker(device, tmp) -> dict:
    """Queue a job for the device in a fresh store; the worker (in this process) runs it; the job
    record's device must name the device (the GPU's name on CUDA)."""
    from pruning_core.config import Config
    from pruning_core.jobs.store import JobStore
    from pruning_core.jobs.worker import serve

    config = Config.from_dict({"device": "cuda" if device.type == "cuda" else "cpu",
                               "training": {"epochs": 1, "batch_size": 200},
                               "algorithm": {"rounds": 1, "rewind_epoch": 0}})
    with JobStore(tmp / "worker") as store:
        job_id = store.create_job(config.to_dict(), config.hash(), status="queued", origin="api")["id"]
        serve(store, idle_exit_seconds=0.1)
        record = store.get_job(job_id)
    want = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"ok": record["status"] == "finished" and want in (record.get("device") or ""),
            "status": record["status"], "device": record.get("device"), "expected": want}


def check_seed_peers(device, tmp, seeds=(0, 1, 2)) -> dict:
    """A sweep over seeds on the device, served by the worker (in this process) with seed batching
    off (one job per claim), then on (the peers claimed together, one batched model): every
    job finished, the batched ones say so, sparsities equal, accuracies within 1 point (bf16 on
    CUDA sums in another order). Wall times of both serve calls are reported."""
    from pruning_core.batched.policy import ENV
    from pruning_core.jobs.store import JobStore
    from pruning_core.jobs.worker import serve
    from pruning_core.runner import load_result
    from pruning_core.sweeps import Axis, expand, queue_sweep

    base = {"device": "cuda" if device.type == "cuda" else "cpu", "training": {"epochs": 2, "batch_size": 100},
            "algorithm": {"rounds": 2, "rewind_epoch": 1}}
    rounds, seconds, together = {}, {}, {}
    before = os.environ.get(ENV)
    try:
        for setting in ("off", "on"):
            os.environ[ENV] = setting
            root = tmp / f"peers-{setting}"
            sweep = queue_sweep(expand(base, [Axis("seed", tuple(seeds))]), root, origin="api")
            with JobStore(root) as store:
                start = time.perf_counter()
                serve(store, idle_exit_seconds=0.1)
                seconds[setting] = time.perf_counter() - start
                together[setting] = [e["seeds_together"] for j in sweep["jobs"] for e in store.events(j)
                                     if e["type"] == "run_started"]
                statuses = [store.get_job(j)["status"] for j in sweep["jobs"]]
            if statuses != ["finished"] * len(seeds):
                return {"ok": False, "error": f"batching {setting}: statuses {statuses}"}
            rounds[setting] = [load_result(j, cache_dir=root).rounds.sort_values("round") for j in sweep["jobs"]]
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
    same_sparsity = all(list(a["remaining_weights"]) == list(b["remaining_weights"])
                        for a, b in zip(rounds["off"], rounds["on"]))
    gap = max(float((a["test_accuracy"] - b["test_accuracy"]).abs().max()) for a, b in zip(rounds["off"], rounds["on"]))
    ok = same_sparsity and gap <= 0.01 and together == {"off": [False] * len(seeds), "on": [True] * len(seeds)}
    return {"ok": ok, "same_sparsity": same_sparsity, "max_accuracy_gap": gap, "seeds_together": together["on"],
            "one_by_one_s": seconds["off"], "together_s": seconds["on"],
            "together_over_one_by_one": seconds["on"] / seconds["off"]}
