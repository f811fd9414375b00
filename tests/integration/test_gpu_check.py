"""``python3 dev.py gpu-check`` in its reduced CPU mode: every check passes and every figure is
produced (the CUDA mode runs the same code with full sizes on a GPU machine)."""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_reduced_cpu_mode(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--cpu", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["mode"] == "cpu-reduced"
    assert set(result["checks"]) == {"imp_sparsities", "no_sync", "pruned_zero", "bf16_accuracy", "worker_device",
                                       "seed_peers"}
    assert all(c["ok"] for c in result["checks"].values()), result["checks"]
    assert result["checks"]["no_sync"]["host_reads"] == {} and result["checks"]["no_sync"]["steps"] > 0
    figures = result["figures"]
    assert {"cpu_epoch_vs_floor", "nadam_step", "global_threshold_25M", "lth_lenet300", "resnet20_throughput",
            "vgg19_throughput"} <= set(figures)
    assert not [name for name, f in figures.items() if "error" in f], figures
    assert figures["global_threshold_25M"]["weights"] == 25_502_912
    assert abs(figures["global_threshold_25M"]["pruned_fraction"] - 0.2) < 1e-6
    assert "figure" in proc.stdout and "PASS" in proc.stdout
