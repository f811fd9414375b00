"""Run the small paper reproductions on this machine and write docs/reproductions.md.

Every experiment is one CLI command on a config in ``configs/repro/``; the analyses are CLI
commands too. This script runs exactly those commands (printed in the document beside each
table) into a separate store (``results/repro/cache``), then tabulates the results.

    .venv/bin/python benchmarks/reproductions.py            # everything (about 20 minutes on 2 cores)
    .venv/bin/python benchmarks/reproductions.py --only aimp,asni
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import platform
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "results" / "repro" / "cache"
PY = [sys.executable, "-m", "pruning_core", "--cache", str(CACHE)]

EXPERIMENTS = {
    "aimp": ["imp_wr_lenet300", "aimp_wr_lenet300"],
    "iap": ["ilp_lenet300", "iap_lenet300", "aiap_lenet300"],
    "asni": ["dense_lenet300_e10", "asni_lenet300", "gradual_lenet300"],
    "allr": ["oneshot_ft_lenet300", "oneshot_slr_lenet300", "oneshot_llr_lenet300", "oneshot_allr_lenet300"],
    "jaccard": ["paganini_l1us_lenet5", "paganini_l1s_lenet5", "paganini_randus_lenet5"],
}


def shown(cmd: list[str]) -> str:
    """The command as a user types it (relative paths, the venv's python)."""
    text = " ".join(cmd[1:]).replace(str(ROOT) + "/", "")
    return "python " + text


def run_config(name: str) -> tuple[str, str]:
    """Run configs/repro/<name>.toml through the CLI; return (job id, the command as shown)."""
    cmd = PY + ["run", "--config", str(ROOT / "configs" / "repro" / f"{name}.toml"), "--quiet"]
    print(f"$ {shown(cmd)}", flush=True)
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed:\n{out.stdout}\n{out.stderr}")
    job = next(line.split()[1].rstrip(":") for line in out.stdout.splitlines() if line.startswith("job "))
    return job, shown(cmd)


def analyze(args: list[str]) -> tuple[dict | list, str]:
    cmd = PY + ["analyze", *args, "--json"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout), shown(cmd[:-1])


def result(job: str):
    from pruning_core.runner import load_result
    return load_result(job, cache_dir=CACHE)


def pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2f} %"


def section_aimp(jobs: dict, cmds: list[str]) -> list[str]:
    lines = ["## AIMP vs IMP (LeNet-300-100, Fashion-MNIST, WR to k = 1, 8 rounds of p = 0.2)", ""]
    lines += ["| method | final sparsity | final accuracy | best-epoch accuracy | retraining epochs | speed-up |",
              "|---|---|---|---|---|---|"]
    base = None
    for name in EXPERIMENTS["aimp"]:
        r = result(jobs[name])
        last = r.rounds.iloc[-1]
        cost = int(last["cumulative_epochs"])
        base = base or cost
        label = "IMP+WR" if name.startswith("imp") else "AIMP₃+WR (τ = 3)"
        lines.append(f"| {label} | {pct(last['sparsity'])} | {pct(last['test_accuracy'])} | "
                     f"{pct(last['best_test_accuracy'])} | {cost} | {base / cost:.2f}× |")
    return lines + [""] + commands(cmds)


def section_iap(jobs: dict, cmds: list[str]) -> list[str]:
    lines = ["## IAP / AIAP vs ILP (LeNet-300-100, Fashion-MNIST, the IAP paper's LeNet setting)", "",
             "Accuracy after each round against the fraction of weights remaining (ILP and IAP prune the same "
             "number of neurons per round, so their rows are at equal remaining weights).", "",
             "| round | " + " | ".join(f"{n.split('_')[0].upper()} remaining | accuracy" for n in EXPERIMENTS["iap"]) + " |",
             "|---|" + "---|---|" * len(EXPERIMENTS["iap"])]
    frames = [result(jobs[n]).rounds.set_index("round") for n in EXPERIMENTS["iap"]]
    for r in frames[0].index:
        cells = []
        for f in frames:
            row = f.loc[r] if r in f.index else None
            cells += ["–", "–"] if row is None else [pct(row["remaining_fraction"]), pct(row["test_accuracy"])]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    table, cmd = analyze(["compression", *[jobs[n] for n in EXPERIMENTS["iap"]]])
    lines += ["", "Compression ratio (total / remaining weights) and FLOPs speed-up of the most compressed round "
              "within an accuracy drop of 0 and 1 percentage point from the dense network:", "",
              "| method | drop | remaining | compression | FLOPs speed-up |", "|---|---|---|---|---|"]
    rows = table if isinstance(table, list) else table.get("rows", [])
    for row, name in _pair_rows(rows, [jobs[n] for n in EXPERIMENTS["iap"]]):
        lines.append(f"| {name} | {row.get('drop')} | {pct(row.get('remaining_fraction'))} | "
                     f"{_num(row.get('compression_ratio'))}× | {_num(row.get('flops_speedup'))}× |")
    return lines + [""] + commands(cmds + [cmd])


def _pair_rows(rows, job_ids):
    names = {j: n.split("_")[0].upper() for j, n in zip(job_ids, EXPERIMENTS["iap"])}
    for row in rows:
        yield row, names.get(row.get("job"), row.get("job"))


def _num(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def section_asni(jobs: dict, cmds: list[str]) -> list[str]:
    dense = result(jobs["dense_lenet300_e10"]).rounds
    asni = result(jobs["asni_lenet300"])
    gradual = result(jobs["gradual_lenet300"]).rounds.iloc[-1]
    summary = asni.summary["asni"][0]
    t1d = dense[dense["round"] == 0]["test_accuracy"].iloc[0]
    lines = ["## ASNI (LeNet-300-100, Fashion-MNIST, E = 10, target sparsity 90 %)", "",
             f"α = {summary['alpha']:.4f} (solved), β = {summary['beta']}, γ = {summary['gamma']} (E/10).", "",
             "| | sparsity | accuracy |", "|---|---|---|",
             f"| T1-D: dense, E epochs (round 0 of an `imp` run) | 0 % | {pct(t1d)} |",
             f"| T1-A-I: ASNI-I | {pct(summary['final_sparsity'])} (target {pct(summary['target_sparsity'])}) | "
             f"{pct(summary['t1_a_i'])} |",
             f"| T1-A-II: ASNI-II (c₊/c₋ init, E epochs) | same mask | {pct(summary['t1_a_ii'])} |",
             f"| T1-S: same mask, original init (E epochs) | same mask | {pct(summary['t1_s'])} |",
             f"| Gradual (Zhu & Gupta cubic, same E and target) | {pct(gradual['sparsity'])} | "
             f"{pct(gradual['test_accuracy'])} |"]
    return lines + [""] + commands(cmds)


def section_allr(jobs: dict, cmds: list[str]) -> list[str]:
    lines = ["## Retraining policies at a short budget (one-shot to 90 %, T = 6, T_rt = 1 epoch)", "",
             "| policy | accuracy after pruning + retraining | dense accuracy | ALLR's d |", "|---|---|---|---|"]
    for name in EXPERIMENTS["allr"]:
        rounds = result(jobs[name]).rounds
        last = rounds.iloc[-1]
        d = last["allr_d"] if "allr_d" in rounds and last["allr_d"] == last["allr_d"] else None
        lines.append(f"| {name.split('_')[1].upper()} | {pct(last['test_accuracy'])} | "
                     f"{pct(rounds.iloc[0]['test_accuracy'])} | {_num(d)} |")
    return lines + [""] + commands(cmds)


def section_jaccard(jobs: dict, cmds: list[str]) -> list[str]:
    us, s, rnd = (jobs[n] for n in EXPERIMENTS["jaccard"])
    lines = ["## Mask similarity (LeNet-5, Fashion-MNIST, Paganini & Forde's setting, same seed)", "",
             "Jaccard distance 1 − |A∩B|/|A∪B| over kept weights, per layer, after the last round (5 rounds of "
             "20 % local pruning, weights rewound to initialisation).", ""]
    analyses = []
    header_done = False
    for other, label in ((s, "L1-unstructured vs L1-structured"), (rnd, "L1-unstructured vs random unstructured")):
        table, cmd = analyze(["jaccard", us, other, "--round", "-1"])
        analyses.append(cmd)
        per_layer = next(iter(table.values()))          # {"-1": {layer: distance, "__model__": ...}}
        layers = {("whole model" if k == "__model__" else k): v for k, v in per_layer.items()}
        if not header_done:
            lines += ["| comparison | " + " | ".join(layers) + " |", "|---|" + "---|" * len(layers)]
            header_done = True
        lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in layers.values()) + " |")
    accs = [result(j).rounds.iloc[-1]["test_accuracy"] for j in (us, s, rnd)]
    lines += ["", "Final accuracies: L1-US " + pct(accs[0]) + ", L1-S " + pct(accs[1]) + ", random US " + pct(accs[2]) + "."]
    return lines + [""] + commands(cmds + analyses)


def commands(cmds: list[str]) -> list[str]:
    return ["Commands:", "", "```bash", *cmds, "```", ""]


SECTIONS = {"aimp": section_aimp, "iap": section_iap, "asni": section_asni, "allr": section_allr,
            "jaccard": section_jaccard}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(EXPERIMENTS), help="comma-separated sections")
    parser.add_argument("--out", default=str(ROOT / "docs" / "reproductions.md"))
    args = parser.parse_args()
    import torch
    parts = ["# Reproductions", "",
             f"Small-scale reproductions of the five papers' comparisons, run on {platform.processor() or 'CPU'} "
             f"({torch.get_num_threads()} threads, torch {torch.__version__}) on "
             f"{datetime.date.today().isoformat()} by `python benchmarks/reproductions.py`. Every number is one seed; "
             "the papers report medians of 5 (add `--set repeats=5`). The settings are scaled down to a few CPU "
             "minutes each, so the numbers show the *direction* of each paper's finding, not its exact values.", ""]
    for key in args.only.split(","):
        jobs, cmds = {}, []
        for name in EXPERIMENTS[key]:
            jobs[name], cmd = run_config(name)
            cmds.append(cmd)
        parts += SECTIONS[key](jobs, cmds)
    # The hand-written "Reading the results" section of docs/reproductions.md interprets one run;
    # rewrite it when the numbers change.
    pathlib.Path(args.out).write_text("\n".join(parts) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
