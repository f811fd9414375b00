"""Gradual pruning in one run of training: ASNI (sigmoid schedule, Damadi et al.) and Zhu & Gupta.

**ASNI-I** (Algorithm 3, lines 1–11). One run of E = ``training.epochs`` epochs on the original LR
schedule with one optimizer throughout. After epoch e = 1 … E the global sparsity is raised to

    p_e = α · sigmoid((e − βE)/γ)        (β = 0.5 and γ = E/10 by default; α given, or solved
                                          so that p_E = ``target_sparsity`` exactly)

over the weights of every conv/linear layer (never biases or batch norm): of the N weights,
⌊p_e·N + ½⌋ are pruned in total, the new ones chosen among the still-alive weights by lowest |w|
(ties: earlier layer, then lower index first), so the count is exact and nothing regrows. The
paper's threshold "τ_g = p-th percentile of |θ|" over all gathered weights is the same rule,
since pruned weights are zero and rank first; a count avoids a threshold's ties. The optimizer
state is kept across epochs (pruned weights are re-zeroed after every step).

**Gradual** runs the same loop on Zhu & Gupta's cubic schedule
s_e = s_f (1 − (1 − (e − t₀)/(t_end − t₀))³) between t₀ = ``gradual_start`` and t_end (s_i = 0).

**ASNI-II** (lines 12–19, ``algorithm.amenable``). From θ̂*, the weights ASNI-I ends with, per
layer l: c₊ = mean of its positive surviving weights, c₋ = mean of its negative ones. The
*amenable* network keeps the ASNI-I mask m̂ and starts from c₊ where θ̂* > 0, c₋ where θ̂* < 0,
0 where pruned; biases start at 0 and batch norm at weight 1, bias 0 (the paper's Section 4.1);
it is trained from scratch for E epochs on the same schedule (fresh optimizer). The control,
the paper's T1-S, trains the same mask from the original initialisation θ₀ ⊙ m̂ (biases and
BN from θ₀ too). A layer with no positive (negative) survivors has no c₊ (c₋): it is reported
as null and no weight uses it. An alive weight that is exactly 0 starts at 0 (the paper's
indicator functions) but stays in the mask.

Events. One ``round`` per epoch: round e = epoch e, ``retrain_epochs`` 1, ``cumulative_epochs``
e, ``variant`` "ASNI-I" (or "gradual"), with the accuracy of the network *after* that epoch's
pruning (re-evaluated whenever the epoch pruned something; the epoch's own evaluation, taken
before pruning, is ``test_accuracy_before_pruning``). Each ``epoch`` event carries the sparsity in
force while it trained (p_{e−1}, p_0 = 0). There is no round 0: the dense network is never
trained here (an untrained round 0 would pose as the dense baseline). ASNI-II is round E + 1
(variant "ASNI-II"), the control round E + 2 (variant "original-init"); both cost E epochs on
top of ASNI-I's E, so their ``cumulative_epochs`` is 2E. Then one ``asni_summary`` event: the
paper's Table 2 columns T1-A-I, T1-A-II, T1-S, the final sparsity against the plan, and c₊, c₋
per layer. T1-D, the dense network trained E epochs, is not trained by ASNI: it is reported as
null (run ``imp``: its round 0 is that dense network on the same training settings).

Resume. Each finished epoch of ASNI-I saves the optimizer state with its round number (the file
is deleted once round E is committed), and ASNI-I's final weights θ̂* and the variants' accuracies
are saved, all before the round's commit; a resumed job continues after its last finished round
(identically: each round's data order is seeded by (seed, round)). If the optimizer state does
not match the last round, the repeat restarts from scratch (``resumed`` with ``restarted``).
"""

from __future__ import annotations

import dataclasses
import json

import torch
from torch import nn

from ..checkpoints import snapshot
from ..masks import PRUNABLE_LAYERS, Masks, count_alive, full_masks
from ..pruners import layer_groups, prune_count, prune_groups, score_weights
from ..train import evaluate, make_optimizer
from .base import RunContext
from .common import Repeat, round_generator

Groups = list[tuple[str, ...]]


# ---- pure pieces -----------------------------------------------------------------------------

def prune_to_sparsity(scores: dict[str, torch.Tensor], masks: Masks, groups: Groups, p: float) -> Masks:
    """New masks in which each group of n weights has exactly ⌊p·n + ½⌋ pruned: the missing ones
    are the alive weights with the lowest scores (none if the group is already that sparse; a
    mask never regrows). The input masks are not modified."""
    new = dict(masks)
    for names in groups:
        n = sum(masks[k].numel() for k in names)
        alive = sum(int(masks[k].sum()) for k in names)
        extra = prune_count(p, n) - (n - alive)
        if extra <= 0:
            continue
        # prune_groups removes ⌊rate·alive + ½⌋ = extra exactly (float error ≪ ½)
        pruned = prune_groups(scores, masks, [(names, extra / alive)])
        new.update({k: pruned[k] for k in names})
        left = sum(int(new[k].sum()) for k in names)
        if left != n - prune_count(p, n):
            raise RuntimeError(f"pruned to {left} alive weights instead of {n - prune_count(p, n)}")
    return new


def centroids(weights: dict[str, torch.Tensor], masks: Masks) -> dict[str, dict[str, float | None]]:
    """Per layer l: c₊ = mean of the surviving weights > 0, c₋ = mean of those < 0 (Alg. 3,
    lines 14 and 16); None where the layer has no such survivor."""
    out = {}
    for name, m in masks.items():
        w = weights[name].detach().float()[m.to(weights[name].device)]
        pos, neg = w[w > 0], w[w < 0]
        out[name] = {"c_plus": float(pos.mean()) if pos.numel() else None,
                     "c_minus": float(neg.mean()) if neg.numel() else None}
    return out


def amenable_weights(weights: dict[str, torch.Tensor], masks: Masks,
                     cents: dict[str, dict[str, float | None]]) -> dict[str, torch.Tensor]:
    """θ⁰ of ASNI-II per layer: c₊ where θ̂* > 0, c₋ where θ̂* < 0, 0 elsewhere (pruned, or 0)."""
    out = {}
    for name, m in masks.items():
        w = weights[name] * m.to(weights[name].device)
        c = cents[name]
        init = torch.zeros_like(w)
        if c["c_plus"] is not None:
            init[w > 0] = c["c_plus"]
        if c["c_minus"] is not None:
            init[w < 0] = c["c_minus"]
        out[name] = init
    return out


def amenable_state(model: nn.Module, init: dict[str, torch.Tensor], weights: dict[str, torch.Tensor],
                   masks: Masks, cents: dict) -> dict[str, torch.Tensor]:
    """The full ASNI-II starting state: θ₀ (``init``, for anything else) with the prunable weights
    replaced by :func:`amenable_weights`, conv/linear biases 0, batch norm weight 1 and bias 0."""
    state = {k: v.clone() for k, v in init.items()}
    state.update(amenable_weights(weights, masks, cents))
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, PRUNABLE_LAYERS) and module.bias is not None:
            state[prefix + "bias"].zero_()
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            state[prefix + "weight"].fill_(1.0)
            state[prefix + "bias"].zero_()
    return state


def pruned_groups(config, model: nn.Module) -> Groups:
    """The layer groups that reach p_e each: ``pruner.scope`` global (one group, the paper's),
    local (each layer) or per_type, over the layers of ``pruner.layers``. Per-round rates have no
    meaning on a schedule: ``output_rate`` may only be null or 0 (the output layer left dense),
    ``conv_rate``/``dense_rate`` only null or 0 (that kind left dense)."""
    groups = []
    for g in layer_groups(config, model, 1.0):
        if g.rate not in (0.0, 1.0):
            raise ValueError(f"pruner.output_rate/conv_rate/dense_rate: got a per-round rate {g.rate}; "
                             f"allowed for {config.algorithm.name}: null, or 0 to leave those layers dense")
        if g.rate == 1.0:
            groups.append(g.names)
    if not groups:
        raise ValueError(f"pruner.layers: {config.pruner.layers!r} selects no layer of {config.model.name} to prune")
    return groups


# ---- the run ---------------------------------------------------------------------------------

def _apply(params: dict[str, nn.Parameter], masks: Masks) -> None:
    with torch.no_grad():
        for name, m in masks.items():
            params[name].mul_(m.to(params[name].dtype))


def _write_json(path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def run_gradual(ctx: RunContext, repeat: int) -> None:
    """One repeat of ASNI (ASNI-I, then ASNI-II and its T1-S control) or gradual pruning."""
    cfg, a = ctx.config, ctx.config.algorithm
    rep = Repeat(ctx, repeat)
    model, ckpt, params = rep.model, rep.ckpt, rep.params
    E, planned = cfg.training.epochs, cfg.planned_sparsity()
    asni = a.name == "asni"
    amenable = asni and a.amenable
    groups = pruned_groups(cfg, model)
    variant = "ASNI-I" if asni else "gradual"
    opt_file = ckpt.folder / "weights" / "gradual_optimizer.pt"
    results_file = ckpt.folder / "gradual_results.json"
    optimizer = make_optimizer(cfg.training, model.parameters())

    done = ckpt.last_round() if ctx.resume else None
    if done is not None and done["round"] < E:
        saved = torch.load(opt_file, map_location=ctx.device, weights_only=True) if opt_file.exists() else None
        if saved is None or saved["round"] != done["round"]:
            done = {"round": 0}                         # no matching optimizer state: start again
        else:
            optimizer.load_state_dict(saved["state"])
    if done is None or done["round"] == 0:
        if done is not None:
            ctx.emit("resumed", repeat=repeat, from_round=0, restarted=True)
        masks = full_masks(params)
        ckpt.save_weights("init", snapshot(model))
        results, first = {}, 1
    else:
        first = done["round"] + 1
        masks = ckpt.load_masks(min(done["round"], E), ctx.device)
        results = json.loads(results_file.read_text()) if results_file.exists() else {}
        if first <= E:
            model.load_state_dict(ckpt.load_weights("latest", ctx.device))
        ctx.emit("resumed", repeat=repeat, from_round=done["round"])

    n_group = sum(masks[k].numel() for g in groups for k in g)
    for e in range(first, E + 1):                       # ASNI-I / gradual: round e = epoch e
        stats = rep.train(e, masks, [e - 1], rep.replay, e - 1, optimizer=optimizer)[-1]
        before = stats.test_accuracy
        scores = score_weights(cfg.pruner.method, params, round_generator(rep.seed, e))
        new = prune_to_sparsity(scores, masks, groups, planned[e - 1])
        pruned_now = count_alive(masks)[0] - count_alive(new)[0]
        masks = new
        if pruned_now:                                  # evaluate the network as pruned
            _apply(params, masks)
            loss, acc = evaluate(model, ctx.data, cfg.training.eval_batch_size)
            stats = dataclasses.replace(stats, test_loss=loss, test_accuracy=acc)
        torch.save({"round": e, "state": optimizer.state_dict()}, opt_file.with_suffix(".tmp"))
        opt_file.with_suffix(".tmp").replace(opt_file)
        if e == E:
            ckpt.save_weights("asni_final", snapshot(model))
            results[variant] = stats.test_accuracy
            _write_json(results_file, results)
        rep.finish_round(e, masks, [stats], e, variant=variant, planned_sparsity=planned[e - 1],
                         pruned_group_sparsity=1 - sum(int(masks[k].sum()) for g in groups for k in g) / n_group,
                         test_accuracy_before_pruning=before, pruned_this_epoch=pruned_now)
        if e == E:                                      # ASNI-I is committed: no resume needs it now
            opt_file.unlink(missing_ok=True)

    cents = None
    if amenable:
        theta_star = ckpt.load_weights("asni_final", ctx.device)
        init = ckpt.load_weights("init", ctx.device)
        cents = centroids({k: theta_star[k] for k in masks}, masks)
        starts = {"ASNI-II": lambda: amenable_state(model, init, theta_star, masks, cents),
                  "original-init": lambda: init}        # T1-S: θ₀ ⊙ m̂ (the enforcer masks it)
        for r, name in ((E + 1, "ASNI-II"), (E + 2, "original-init")):
            if r < first:
                continue
            model.load_state_dict(starts[name]())
            history = rep.train(r, masks, range(E), rep.replay, E)
            results[name] = history[-1].test_accuracy
            _write_json(results_file, results)
            rep.finish_round(r, masks, history, 2 * E, variant=name,
                             centroids=cents if name == "ASNI-II" else None)
    if asni:
        alive, total = count_alive(masks)
        alive_group = sum(int(masks[k].sum()) for g in groups for k in g)
        ctx.emit("asni_summary", repeat=repeat, seed=rep.seed, epochs=E, alpha=cfg.sigmoid_alpha(),
                 beta=a.sigmoid_beta, gamma=cfg.sigmoid_gamma(), target_sparsity=a.target_sparsity,
                 planned_final_sparsity=planned[-1], final_sparsity=1 - alive / total,
                 pruned_group_sparsity=1 - alive_group / n_group, remaining_weights=alive, total_weights=total,
                 t1_d=None, t1_a_i=results.get("ASNI-I"), t1_a_ii=results.get("ASNI-II"),
                 t1_s=results.get("original-init"), centroids=cents,
                 note="T1-D (dense, E epochs) is not trained by asni: see round 0 of an imp run")


__all__ = ["amenable_state", "amenable_weights", "centroids", "prune_to_sparsity", "pruned_groups",
           "run_gradual"]
