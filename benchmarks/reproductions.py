"""Run the paper reproductions as 5-seed sweeps on this machine and write docs/reproductions.md.

Every experiment is one ``sweep`` CLI command on a config in ``configs/repro/`` over
``seed=0,1,2,3,4`` (printed in the document beside each table); the analyses are CLI commands
too. This script runs exactly those commands, one job at a time on one thread, into a separate
store (``results/repro/cache``), then tabulates the median [min, max] over the seeds per round.

    .venv/bin/python benchmarks/reproductions.py                 # run every sweep, write the document
    .venv/bin/python benchmarks/reproductions.py --reuse         # reuse finished sweeps, run only the rest
    .venv/bin/python benchmarks/reproductions.py --reuse --only iap,aimp

``--reuse`` takes, per config, the newest sweep of the store whose base config and axes equal
the command's and whose jobs all finished; so regenerating the text never retrains. ``--only``
rewrites just those sections of an existing document (the others are kept as they are).

The "Reading the results" section is written by hand from the numbers; the script keeps the
one already in the document (and says so when the numbers it interprets were regenerated).
The "Verdicts" table under it is computed from the sweeps.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "results" / "repro" / "cache"
SWEEPS_OUT = ROOT / "results" / "repro" / "sweeps"
SEEDS = "0,1,2,3,4"
THREADS = "1"
CONFIGS = ROOT / "configs" / "repro"


def py() -> list[str]:
    return [sys.executable, "-m", "pruning_core", "--cache", str(CACHE)]


# section -> [(config name, extra sweep arguments)]
EXPERIMENTS: dict[str, list[tuple[str, list[str]]]] = {
    "iap": [("ilp_lenet300", []), ("iap_lenet300", []), ("aiap_lenet300", [])],
    "aimp": [("imp_wr_lenet300", []), ("aimp_wr_lenet300", [])],
    "asni": [("asni_lenet5", [])],
    "jaccard": [("paganini_l1us_lenet5", []), ("paganini_l1s_lenet5", []), ("paganini_randus_lenet5", [])],
    "lth": [("lth_lenet300_openlth", [])],
    "allr": [(f"oneshot_{p}_lenet5", ["--axis", "algorithm.retrain_epochs=1,2"]) for p in ("ft", "allr")],
}
ORDER = ["iap", "aimp", "asni", "jaccard", "lth", "allr"]   # allr last: it needs lr_policies.py settled
TITLES = {
    "iap": "IAP / AIAP vs ILP",
    "aimp": "AIMP vs IMP",
    "asni": "ASNI-I, ASNI-II and the original-init control",
    "jaccard": "Mask similarity (Paganini & Forde)",
    "lth": "Anchor: the lottery-ticket curve with OpenLTH's hyperparameters",
    "allr": "Retraining policies at short budgets (ALLR vs FT)",
}


# ---- running and reusing sweeps -------------------------------------------------------------

def shown(cmd: list[str]) -> str:
    """The command as a user types it (relative paths, the venv's python, one thread)."""
    text = " ".join(cmd[1:]).replace(str(ROOT) + "/", "")
    return f"OMP_NUM_THREADS={THREADS} python " + text


def sweep_command(name: str, extra: list[str]) -> list[str]:
    return py() + ["sweep", "--config", str(CONFIGS / f"{name}.toml"), *extra,
                 "--axis", f"seed={SEEDS}", "--slots", "1", "--name", f"repro-{name}",
                 "--out", str(SWEEPS_OUT / name)]


def _spec(name: str, extra: list[str]) -> tuple[str, str]:
    """The (base config, axes) a sweep of this command records, as canonical JSON."""
    from pruning_core.config import load_config
    from pruning_core.sweeps import parse_axis

    base = load_config(str(CONFIGS / f"{name}.toml"), []).to_dict()
    axes = [parse_axis(a).to_dict() for a in [*extra[1::2], f"seed={SEEDS}"]]
    return json.dumps(base, sort_keys=True), json.dumps(axes, sort_keys=True)


def find_finished(store, name: str, extra: list[str]) -> dict | None:
    """The newest sweep of ``store`` with this command's base config and axes whose jobs all finished."""
    want = _spec(name, extra)
    for sweep in store.list_sweeps():                       # newest first
        have = json.dumps(sweep.get("base"), sort_keys=True), json.dumps(sweep.get("axes"), sort_keys=True)
        if have == want and all(store.get_job(j)["status"] == "finished" for j in sweep["jobs"]):
            return sweep
    return None


class Sweep:
    """A finished sweep: its record, its rows (one per job × round) and the command that ran it."""

    def __init__(self, name: str, record: dict, rounds, command: str, jobs: dict[str, dict]):
        self.name, self.record, self.rounds, self.command, self.jobs = name, record, rounds, command, jobs

    @property
    def seconds(self) -> float:
        """Compute time: the sum of its jobs' run times (a shared dense round 0 counts once, in the
        job that trained it)."""
        return sum((j["finished"] or 0) - (j["started"] or 0) for j in self.jobs.values())

    def job_for(self, seed: int, **axes) -> str:
        for job_id, job in self.jobs.items():
            values = job.get("axes") or {}
            if values.get("seed") == seed and all(values.get(k) == v for k, v in axes.items()):
                return job_id
        raise KeyError(f"{self.name}: no job with seed {seed} and {axes}")


def get_sweep(name: str, extra: list[str], reuse: bool) -> Sweep:
    from pruning_core.jobs.store import JobStore
    from pruning_core.sweeps import sweep_rounds

    cmd = sweep_command(name, extra)
    with JobStore(CACHE) as store:
        record = find_finished(store, name, extra) if reuse else None
    if record is None:
        print(f"$ {shown(cmd)}", flush=True)
        env = {**os.environ, "OMP_NUM_THREADS": THREADS}
        if subprocess.run(cmd, cwd=ROOT, env=env).returncode != 0:
            raise SystemExit(f"{name}: the sweep did not finish (see above)")
        with JobStore(CACHE) as store:
            record = find_finished(store, name, extra)
        if record is None:
            raise SystemExit(f"{name}: no finished sweep in {CACHE} after running it")
    else:
        print(f"reusing sweep {record['id']} for {name}", flush=True)
    with JobStore(CACHE) as store:
        rounds = sweep_rounds(store, record)
        jobs = {j: store.get_job(j) for j in record["jobs"]}
    return Sweep(name, record, rounds, shown(cmd), jobs)


def analyze(args: list[str]) -> tuple[dict | list, str]:
    cmd = py() + ["analyze", *args, "--json"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout), shown(cmd[:-1])


# ---- formatting -----------------------------------------------------------------------------

def pct(x) -> str:
    return "–" if x is None or x != x else f"{100 * x:.2f} %"


def mmm(values, scale: float = 100.0, digits: int = 2) -> str:
    """median [min, max] of ``values`` (percent by default)."""
    import numpy as np

    v = np.asarray([x for x in values if x == x], dtype=float) * scale
    if not len(v):
        return "–"
    f = f"{{:.{digits}f}}"
    return f"{f.format(np.median(v))} [{f.format(v.min())}, {f.format(v.max())}]"


def med(values) -> float:
    import numpy as np

    v = [x for x in values if x == x]
    return float(np.median(v)) if v else float("nan")


def commands(cmds: list[str]) -> list[str]:
    return ["Commands:", "", "```bash", *cmds, "```", ""]


def per_round(sweep: Sweep, column: str = "test_accuracy", **axes) -> dict[int, list[float]]:
    """round -> the values of ``column`` over the seeds (rows with these axis values)."""
    df = sweep.rounds
    for k, v in axes.items():
        df = df[df[k] == v]
    return {int(r): list(g[column]) for r, g in df.groupby("round")}


def seed_count(sweep: Sweep) -> int:
    return sweep.rounds["seed"].nunique()


# ---- sections -------------------------------------------------------------------------------

VERDICTS: dict[str, list[tuple[str, str, str]]] = {}   # section -> [(comparison, evidence, verdict)]


def verdict(section: str, comparison: str, evidence: str, holds: bool | str | None) -> None:
    word = {True: "yes", False: "no", None: "inconclusive"}.get(holds, holds)
    VERDICTS.setdefault(section, []).append((comparison, evidence, word))


def section_iap(sw: dict[str, Sweep]) -> list[str]:
    names = [n for n, _ in EXPERIMENTS["iap"]]
    labels = {"ilp_lenet300": "ILP", "iap_lenet300": "IAP", "aiap_lenet300": "AIAP"}
    acc = {n: per_round(sw[n]) for n in names}
    rem = {n: per_round(sw[n], "remaining_fraction") for n in names}
    rounds = sorted(set().union(*[acc[n] for n in names]))
    lines = [f"## {TITLES['iap']} (LeNet-300-100, Fashion-MNIST, 5 seeds)", "",
             "The IAP paper's LeNet setting: NAdam 1.2e-3, batch 60, T = 6, weights rewound to epoch 5 and 1 "
             "epoch of retraining per round. ILP and IAP remove 20 % of the alive neurons of each hidden layer per "
             "round (18 rounds, down to about 1.6 % of the weights), so their rows are at equal remaining weights; "
             "AIAP removes every neuron whose mean activation is at most its adaptive threshold (10 rounds). "
             "Accuracy in %, median [min, max] over the 5 seeds; remaining weights: median.", "",
             "| round | " + " | ".join(f"{labels[n]} remaining | {labels[n]} accuracy" for n in names) + " |",
             "|---|" + "---|---|" * len(names)]
    for r in rounds:
        cells = []
        for n in names:
            cells += ["–", "–"] if r not in acc[n] else [pct(med(rem[n][r])), mmm(acc[n][r])]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    # Compression at a given accuracy drop, from the medians (what `analyze compression` does per job).
    dense = med(acc[names[0]][0])
    lines += ["", f"Most compressed round whose *median* accuracy is within 0 / 1 percentage point of the median "
              f"dense accuracy ({pct(dense)}), computed from the medians above:", "",
              "| method | drop | round | remaining | compression |", "|---|---|---|---|---|"]
    for n in names:
        for drop in (0.0, 0.01):
            ok = [r for r in acc[n] if r > 0 and med(acc[n][r]) >= dense - drop - 1e-12]
            if ok:
                r = min(ok, key=lambda r: med(rem[n][r]))
                lines.append(f"| {labels[n]} | {drop * 100:.0f} pp | {r} | {pct(med(rem[n][r]))} | "
                             f"{1 / med(rem[n][r]):.2f}× |")
            else:
                lines.append(f"| {labels[n]} | {drop * 100:.0f} pp | – | – | – |")
    ilp, iap = acc["ilp_lenet300"], acc["iap_lenet300"]
    last = max(set(ilp) & set(iap))
    late = [r for r in sorted(set(ilp) & set(iap)) if med(rem["ilp_lenet300"][r]) <= 0.05]
    wins = sum(med(iap[r]) > med(ilp[r]) for r in late)
    verdict("iap", "IAP ahead of ILP at ≤ 5 % of the weights",
            f"round {last} ({pct(med(rem['ilp_lenet300'][last]))} left): IAP {mmm(iap[last])} vs ILP {mmm(ilp[last])}; "
            f"IAP's median ahead in {wins} of {len(late)} rounds ≤ 5 %", wins > len(late) / 2 if late else None)
    aiap = acc["aiap_lenet300"]
    alast = max(aiap)

    def compression(n: str, drop: float) -> float:
        ok = [r for r in acc[n] if r > 0 and med(acc[n][r]) >= dense - drop - 1e-12]
        return max((1 / med(rem[n][r]) for r in ok), default=1.0)

    c_aiap, c_ilp, c_iap = (compression(n, 0.01) for n in ("aiap_lenet300", "ilp_lenet300", "iap_lenet300"))
    verdict("iap", "AIAP: more compression than ILP and IAP within a 1 pp drop",
            f"AIAP {c_aiap:.2f}× (stops at {pct(med(rem['aiap_lenet300'][alast]))} after {alast} rounds, "
            f"{mmm(aiap[alast])}) vs ILP {c_ilp:.2f}×, IAP {c_iap:.2f}×", c_aiap > max(c_ilp, c_iap))
    return lines + [""] + commands([sw[n].command for n in names])


def section_aimp(sw: dict[str, Sweep]) -> list[str]:
    imp, aimp = sw["imp_wr_lenet300"], sw["aimp_wr_lenet300"]
    ai, aa = per_round(imp), per_round(aimp)
    rem = per_round(imp, "remaining_fraction")
    ci, ca = per_round(imp, "cumulative_epochs"), per_round(aimp, "cumulative_epochs")
    lines = [f"## {TITLES['aimp']} (LeNet-300-100, Fashion-MNIST, WR to k = 1, 20 rounds of p = 0.2, 5 seeds)", "",
             "T = 3 epochs. IMP+WR retrains T − k = 2 epochs every round; AIMP₂+WR (τ = 2) retrains τ − k = 1 epoch "
             "in rounds 1–19 (the mask search) and T − k = 2 in the last round, so only its last row is a fully "
             "trained network (its other rows are after 1 epoch, by design). Accuracy in %, median [min, max].", "",
             "| round | remaining | IMP+WR accuracy | IMP epochs so far | AIMP₂+WR accuracy | AIMP epochs so far |",
             "|---|---|---|---|---|---|"]
    for r in sorted(ai):
        lines.append(f"| {r} | {pct(med(rem[r]))} | {mmm(ai[r])} | {int(max(ci[r]))} | "
                     f"{mmm(aa.get(r, []))} | {int(max(ca.get(r, [0])))} |")
    last = max(ai)
    cost_i, cost_a = max(ci[last]), max(ca[last])
    best_i, best_a = per_round(imp, "best_test_accuracy")[last], per_round(aimp, "best_test_accuracy")[last]
    lines += ["", f"At the last round ({pct(med(rem[last]))} of the weights): IMP+WR {mmm(ai[last])} "
              f"(best epoch {mmm(best_i)}) with {int(cost_i)} retraining epochs; AIMP₂+WR {mmm(aa[last])} "
              f"(best epoch {mmm(best_a)}) with {int(cost_a)}: **{cost_i / cost_a:.2f}× cheaper**.", ""]
    diff = med(aa[last]) - med(ai[last])
    verdict("aimp", "AIMP matches IMP's final accuracy at a fraction of the cost",
            f"{pct(med(rem[last]))} left: AIMP {mmm(aa[last])} vs IMP {mmm(ai[last])}, "
            f"{cost_i / cost_a:.2f}× fewer retraining epochs",
            True if diff >= 0 or max(aa[last]) >= min(ai[last]) else
            f"partly: cheaper, but {100 * -diff:.2f} pp below with disjoint ranges" if diff > -0.01 else False)
    return lines + commands([imp.command, aimp.command])


def section_asni(sw: dict[str, Sweep]) -> list[str]:
    from pruning_core.runner import load_result

    asni = sw["asni_lenet5"]
    rows = {"t1_a_i": [], "t1_a_ii": [], "t1_s": [], "final_sparsity": [], "alpha": []}
    seeds = sorted(asni.rounds["seed"].unique())
    diffs = []
    for seed in seeds:
        summary = load_result(asni.job_for(int(seed)), cache_dir=CACHE).summary["asni"][0]
        for k in rows:
            rows[k].append(summary[k])
        diffs.append(summary["t1_a_ii"] - summary["t1_s"])
    # T1-D (the dense network trained E epochs, round 0 of an imp run) was not trained: no compute left for it.
    t1d, t1d_src = "not trained (compute)", "round 0 of an `imp` run with the same recipe"
    lines = [f"## {TITLES['asni']} (LeNet-5, Fashion-MNIST, E = 2, target 90 %, 5 seeds)", "",
             "SGD, momentum 0.9, lr 0.05 ×0.1 at epoch 1, batch 60. ASNI-I prunes on the sigmoid schedule to "
             f"90 % during E epochs (α solved: {mmm(rows['alpha'], 1, 4)}; β = 0.5, γ = E/10); ASNI-II trains its mask "
             "from the two-centroid init c₊/c₋ for E epochs; T1-S trains the same mask from the original init for E "
             "epochs. Accuracy in %, median [min, max] over the 5 seeds.", "",
             "| | sparsity | accuracy |", "|---|---|---|",
             f"| T1-D: dense, E epochs ({t1d_src}) | 0 % | {t1d} |",
             f"| T1-A-I: ASNI-I | {mmm(rows['final_sparsity'])} (target 90 %) | {mmm(rows['t1_a_i'])} |",
             f"| T1-A-II: ASNI-II (c₊/c₋ init, E epochs) | same mask | {mmm(rows['t1_a_ii'])} |",
             f"| T1-S: same mask, original init (E epochs) | same mask | {mmm(rows['t1_s'])} |", "",
             f"Per seed, ASNI-II − T1-S: {', '.join(f'{100 * d:+.2f}' for d in diffs)} percentage points "
             f"(ASNI-II ahead in {sum(d > 0 for d in diffs)} of {len(diffs)} seeds).", ""]
    hit = all(abs(s - 0.9) < 0.005 for s in rows["final_sparsity"])
    verdict("asni", "ASNI-I lands on its target sparsity",
            f"final sparsity {mmm(rows['final_sparsity'])} for a 90 % target; accuracy {mmm(rows['t1_a_i'])}", hit)
    ahead = sum(d > 0 for d in diffs)
    verdict("asni", "ASNI-II ahead of the original-init control (same mask)",
            f"ASNI-II {mmm(rows['t1_a_ii'])} vs T1-S {mmm(rows['t1_s'])}; ahead in {ahead}/{len(diffs)} seeds",
            True if ahead >= 4 else False if ahead <= 1 else None)
    return lines + commands([asni.command])


def section_jaccard(sw: dict[str, Sweep]) -> list[str]:
    us, s, rnd = (sw[n] for n, _ in EXPERIMENTS["jaccard"])
    seeds = sorted(int(x) for x in us.rounds["seed"].unique())
    lines = [f"## {TITLES['jaccard']} (LeNet-5, Fashion-MNIST, 5 seeds)", "",
             "Paganini & Forde's setting scaled down: SGD lr 0.01 constant, batch 32, local pruning of 20 % per "
             "layer per round, weights rewound to initialisation; 2 rounds of 1 epoch (64 % of the weights left; the paper prunes iteratively to far higher sparsity). "
             "Jaccard distance 1 − |A∩B|/|A∪B| over kept weights, per layer, after the last round, between two "
             "methods' masks of the *same seed* (same θ₀); median [min, max] over the 5 seeds.", ""]
    analyses, table = [], {}
    for other, label in ((s, "L1-unstructured vs L1-structured"), (rnd, "L1-unstructured vs random unstructured")):
        per_layer: dict[str, list[float]] = {}
        for seed in seeds:
            result, cmd = analyze(["jaccard", us.job_for(seed), other.job_for(seed), "--round", "-1"])
            analyses.append(cmd)
            for k, v in next(iter(result.values())).items():
                per_layer.setdefault("whole model" if k == "__model__" else k, []).append(v)
        table[label] = per_layer
    layers = list(next(iter(table.values())))
    lines += ["| comparison | " + " | ".join(layers) + " |", "|---|" + "---|" * len(layers)]
    for label, per_layer in table.items():
        lines.append(f"| {label} | " + " | ".join(mmm(per_layer[k], 1, 3) for k in layers) + " |")
    accs = {n: per_round(sw[n]) for n, _ in EXPERIMENTS["jaccard"]}
    rem = per_round(us, "remaining_fraction")
    last = max(rem)
    lines += ["", f"Final accuracy (%, {pct(med(rem[last]))} of the weights left): "
              + "; ".join(f"{lab} {mmm(accs[n][max(accs[n])])}" for n, lab in
                          zip(accs, ("L1-US", "L1-S", "random US"))) + ".", ""]
    closer = [a < b for a, b in zip(table["L1-unstructured vs L1-structured"]["whole model"],
                                    table["L1-unstructured vs random unstructured"]["whole model"])]
    first = layers[0]
    closer_first = [a < b for a, b in zip(table["L1-unstructured vs L1-structured"][first],
                                          table["L1-unstructured vs random unstructured"][first])]
    verdict("jaccard", "L1-US masks closer to L1-S than to random US",
            f"whole model {mmm(table['L1-unstructured vs L1-structured']['whole model'], 1, 3)} vs "
            f"{mmm(table['L1-unstructured vs random unstructured']['whole model'], 1, 3)} (closer in "
            f"{sum(closer)}/{len(closer)} seeds); {first}: closer in {sum(closer_first)}/{len(closer_first)}",
            sum(closer) >= 4)
    return lines + commands([us.command, s.command, rnd.command] + analyses)


def section_lth(sw: dict[str, Sweep]) -> list[str]:
    lth = sw["lth_lenet300_openlth"]
    acc, best = per_round(lth), per_round(lth, "best_test_accuracy")
    rem = per_round(lth, "remaining_fraction")
    lines = [f"## {TITLES['lth']} (LeNet-300-100, Fashion-MNIST, 5 seeds)", "",
             "OpenLTH's `mnist_lenet_300_100` `default_hparams()` (facebookresearch/open_lth, "
             "`models/mnist_lenet.py`): SGD lr 0.1, no momentum, no weight decay, batch 128, 40 epochs "
             "(`training_steps='40ep'`), `sparse_global` pruning of 20 % per level with `pruning_layers_to_ignore="
             "'fc.weight'` (the output layer is not pruned at all; the 2019 paper pruned it at half the rate), "
             "weights rewound to iteration 0. Here: **Fashion-MNIST instead of MNIST** (MNIST is not available "
             "offline), **1 epoch per level instead of 40**, 10 levels, PyTorch's default init instead of "
             "`kaiming_normal`. Accuracy in % at the end of each level's training and at its best epoch (the "
             "paper's early-stopping view), median [min, max].", "",
             "| level | remaining | accuracy (last epoch) | accuracy (best epoch) |", "|---|---|---|---|"]
    for r in sorted(acc):
        lines.append(f"| {r} | {pct(med(rem[r]))} | {mmm(acc[r])} | {mmm(best[r])} |")
    dense = med(acc[0])
    peak = max((r for r in acc if r > 0), key=lambda r: med(acc[r]))
    above = [r for r in acc if r > 0 and med(acc[r]) >= dense]
    lowest = min(above, key=lambda r: med(rem[r])) if above else None
    lines += ["", f"Median dense accuracy {pct(dense)}; best median level {peak} ({pct(med(rem[peak]))} left, "
              f"{pct(med(acc[peak]))}); "
              + (f"the sparsest level at or above the dense median is {lowest} ({pct(med(rem[lowest]))} left)."
                 if lowest is not None else "no pruned level reaches the dense median."), ""]
    verdict("lth", "Winning tickets (rewind to θ₀) at or above dense accuracy at 10–20 % of the weights",
            f"dense {mmm(acc[0])}; level {peak} ({pct(med(rem[peak]))} left) {mmm(acc[peak])}"
            + (f"; at/above dense down to {pct(med(rem[lowest]))}" if lowest is not None else ""),
            lowest is not None and med(rem[lowest]) <= 0.2)
    return lines + commands([lth.command])


def section_allr(sw: dict[str, Sweep]) -> list[str]:
    names = [n for n, _ in EXPERIMENTS["allr"]]
    budgets = sorted(int(b) for b in sw[names[0]].rounds["algorithm.retrain_epochs"].unique())
    dense_by_seed = sw[names[0]].rounds.query("round == 0").groupby("seed")["test_accuracy"].first()
    lines = [f"## {TITLES['allr']} (LeNet-5, Fashion-MNIST, one-shot to 97 %, 5 seeds)", "",
             "T = 3 dense epochs (SGD, momentum 0.9, lr 0.05 ×0.1 at epoch 2, batch 60), one-shot global "
             f"magnitude pruning to 97 %, then T_rt ∈ {{{', '.join(map(str, budgets))}}} epochs of retraining with "
             "each policy (an axis of each sweep). Dense accuracy (round 0, shared by every job of a seed): "
             f"{mmm(list(dense_by_seed))} %. Accuracy after pruning and retraining, %, median [min, max]; ALLR's "
             "discount d: median.", "",
             "| policy | " + " | ".join(f"T_rt = {b}" for b in budgets) + " | ALLR's d |",
             "|---|" + "---|" * (len(budgets) + 1)]
    finals: dict[tuple[str, int], list[float]] = {}
    for n in names:
        rounds = sw[n].rounds
        cells, ds = [], []
        for b in budgets:
            sub = rounds[(rounds["algorithm.retrain_epochs"] == b) & (rounds["round"] == rounds["round"].max())]
            finals[(n, b)] = list(sub["test_accuracy"])
            cells.append(mmm(finals[(n, b)]))
            if "allr_d" in sub:
                ds += [d for d in sub["allr_d"] if d == d]
        lines.append(f"| {n.split('_')[1].upper()} | " + " | ".join(cells) + f" | {_num(med(ds)) if ds else '–'} |")
    lines.append("")
    for b in budgets:
        a, f = finals[("oneshot_allr_lenet5", b)], finals[("oneshot_ft_lenet5", b)]
        ahead = sum(x > y for x, y in zip(a, f))
        verdict("allr", f"ALLR ahead of FT at T_rt = {b}",
                f"ALLR {mmm(a)} vs FT {mmm(f)}; "
                f"ALLR ahead in {ahead}/{len(a)} seeds (same seed, same dense network)",
                True if ahead >= 4 and med(a) > med(f) else False if med(a) <= med(f) else None)
    return lines + commands([sw[n].command for n in names])


def not_run(key: str) -> list[str]:
    """A section whose sweeps did not finish within this document's compute budget."""
    verdict(key, TITLES[key], "not run to the end in this document's compute budget", None)
    return [f"## {TITLES[key]}", "", "**Not run to the end for this version of the document** (the machine's "
            "compute ran out before the deadline); these commands produce it, then "
            "`python benchmarks/reproductions.py --reuse --only " + key + "` writes the section:", "",
            *commands([shown(sweep_command(n, e)) for n, e in EXPERIMENTS[key]])]


def _num(x) -> str:
    return "–" if x is None or x != x else f"{x:.2f}"


# ---- the document ---------------------------------------------------------------------------

def split_sections(text: str) -> dict[str, str]:
    """The existing document's "## " sections by their title's first words (key of TITLES), plus
    "reading" and "verdicts"."""
    out: dict[str, str] = {}
    for block in re.split(r"(?m)^(?=## )", text)[1:]:
        title = block.splitlines()[0][3:]
        key = next((k for k, t in TITLES.items() if title.startswith(t)), None)
        if title.startswith("Reading the results"):
            key = "reading"
        elif title.startswith("Verdicts"):
            key = "verdicts"
        if key:
            out[key] = block.rstrip() + "\n"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(ORDER), help=f"comma-separated sections of: {', '.join(ORDER)}")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the newest finished sweep of each command from the store instead of rerunning it")
    parser.add_argument("--no-run", action="store_true",
                        help="with --reuse: run nothing; a section whose sweeps have not all finished says so")
    parser.add_argument("--out", default=str(ROOT / "docs" / "reproductions.md"))
    args = parser.parse_args()
    only = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in only if k not in EXPERIMENTS]
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(unknown)}; allowed: {', '.join(ORDER)}")
    import torch

    out = pathlib.Path(args.out)
    old = split_sections(out.read_text()) if out.exists() else {}
    sweeps: dict[str, dict[str, Sweep]] = {}
    for key in [k for k in ORDER if k in only]:
        if args.no_run and not _all_finished(key):
            sweeps[key] = None
            continue
        sweeps[key] = {name: get_sweep(name, extra, args.reuse or args.no_run) for name, extra in EXPERIMENTS[key]}
    # ASNI's dense reference is round 0 of the one-shot sweeps: read them when they are finished.
    body: dict[str, str] = {}
    for key in ORDER:
        if key not in only:
            continue
        sw = sweeps[key]
        if sw is None:
            body[key] = "\n".join(not_run(key)).rstrip() + "\n"
            continue
        lines = globals()[f"section_{key}"](sw)
        body[key] = "\n".join(lines).rstrip() + "\n"
    compute, missing = 0.0, []
    for key in ORDER:                     # the whole document's compute, run now or found in the store
        found = sweeps.get(key) if key in only else _finished_sweeps(key)
        if found:
            compute += sum(s.seconds for s in found.values())
        else:
            missing.append(key)
    cores = os.cpu_count()
    head = ["# Reproductions", "",
            f"The five papers' comparisons (and a lottery-ticket anchor), each as a sweep over 5 seeds, run on "
            f"{platform.processor() or platform.machine() or 'CPU'} ({cores} cores shared with other work; every job "
            f"on {THREADS} thread, one job at a time) with torch {torch.__version__} on "
            f"{datetime.date.today().isoformat()} by `python benchmarks/reproductions.py` (regenerate the text "
            "from the stored sweeps without retraining: `--reuse`; one section: `--only iap`). Every table "
            "shows the median and [min, max] over seeds 0–4; each command beside a table re-runs it. "
            f"Compute time of the sweeps in this document: {_hours(compute)} (sum of the jobs' run times, one "
            "thread each" + (f"; without {', '.join(missing)}, not in the store" if missing else "") + "). "
            "The settings are scaled down to fit about 90 CPU minutes in all, so the numbers show the *direction* "
            "of each paper's finding, not its exact values.", ""]
    reading = old.get("reading") or ("## Reading the results\n\n(Write this section from the numbers below: "
                                     "which effects reproduce in direction, which do not, what would be needed.)\n")
    verdict_lines = ["## Verdicts computed from the sweeps", "",
                     "Whether each paper's effect shows *in direction* in the 5-seed medians (the script's checks; "
                     "the reading above weighs them).", "",
                     "| comparison | 5-seed evidence | reproduces in direction |", "|---|---|---|"]
    for key in ORDER:
        if key in only:
            verdict_lines += [f"| {c} | {e} | {v} |" for c, e, v in VERDICTS.get(key, [])]
        elif "verdicts" in old:
            verdict_lines += [line for line in old["verdicts"].splitlines()
                              if line.startswith("| ") and _verdict_key(line) == key]
    verdicts = "\n".join(verdict_lines) + "\n"
    sections = [body.get(k) or old.get(k, "") for k in ORDER]
    text = "\n".join(head) + "\n" + reading + "\n" + verdicts + "\n" + "\n".join(s for s in sections if s)
    out.write_text(text)
    print(f"wrote {out} (compute of these sweeps: {_hours(compute)})")
    return 0


VERDICT_KEYS = {"IAP": "iap", "AIAP": "iap", "AIMP": "aimp", "ASNI": "asni", "L1-US": "jaccard",
                "Winning": "lth", "ALLR": "allr"}


def _verdict_key(line: str) -> str | None:
    first = line[2:].split()[0].rstrip(":")
    return next((key for word, key in VERDICT_KEYS.items() if first.startswith(word)), None)


def _finished_sweeps(key: str) -> dict[str, Sweep] | None:
    """The section's sweeps from the store when every one has finished, else None (nothing runs)."""
    if not _all_finished(key):
        return None
    return {name: get_sweep(name, extra, True) for name, extra in EXPERIMENTS[key]}


def _all_finished(key: str) -> bool:
    from pruning_core.jobs.store import JobStore

    with JobStore(CACHE) as store:
        return all(find_finished(store, name, extra) is not None for name, extra in EXPERIMENTS[key])


def _hours(seconds: float) -> str:
    m = int(round(seconds / 60))
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


if __name__ == "__main__":
    sys.exit(main())
