"""Iterative pruning: IMP with weight rewinding, LR rewinding or fine-tuning; AIMP; one-shot; BIMP.

One repeat, following Algorithm 1 of Zullich et al. (AIMP paper) and Renda et al.'s variants:

* **Round 0** trains the dense network for T epochs on the schedule η(t), saving θ_k, the
  full state after k epochs (k = ``rewind_epoch``; k = 0 is the initialisation θ₀, the
  original lottery ticket).
* **Round r = 1 … R**: prune a fraction p of what survives (the pruner of ``config.pruner``,
  scored on the trained weights θ_T^(r−1)), then

  - ``rewind = "weights"`` (IMP+WR): θ ← θ_k ⊙ m^(r) (or a reinitialisation, see
    :mod:`pruning_core.treatments`); train schedule epochs k … T−1;
  - ``rewind = "lr"`` (IMP+LRR): θ ← θ_T^(r−1) ⊙ m^(r); replay schedule epochs k … T−1;
  - ``rewind = "none"`` (fine-tuning): θ ← θ_T^(r−1) ⊙ m^(r); train T − k epochs at the
    constant last LR η_T of the original schedule;
  - with ``lr_policy`` set (weights kept): retrain T_rt epochs on FT / LRW / SLR / CLR / LLR /
    ALLR (:func:`pruning_core.schedules.retraining_lr`).

  With AIMP's τ (``partial_epochs``) the intermediate rounds 1 … R−1 retrain only τ − k epochs
  (schedule epochs k … τ−1), the last round the full T − k.
* **One-shot** is one round. **BIMP** (Zimmer et al.) spends a budget of T epochs: T0 dense
  epochs on a linear schedule from η₁ to 0, then R rounds of ALLR retraining sharing T − T0.

Each round starts a fresh optimizer (no momentum carried across rounds). Pruned weights are
re-zeroed after every step (and left out of the gradient norm of clipping). The data order of round r is drawn from a
generator seeded by (seed, r), so a resumed run trains exactly as an uninterrupted one would.
"""

from __future__ import annotations

import math

from ..analysis.stability import round_stability_fields
from ..checkpoints import snapshot
from ..masks import Masks, count_alive, full_masks
from ..pruners import make_pruner
from ..schedules import allr_discount, retraining_lr
from ..treatments import restart_state
from .base import RunContext
from .common import Repeat, round_generator


def _allr_d(rep: Repeat, before: Masks, after: Masks, retrain_epochs: int, budget: int) -> float:
    """ALLR's d from the weights this step pruned (prunable weights only, alive before the step)."""
    pruned_sq = alive_sq = 0.0
    for name, w in rep.params.items():
        w = w.detach().float()
        alive_sq += float((w[before[name]] ** 2).sum())
        pruned_sq += float((w[before[name] & ~after[name]] ** 2).sum())
    alive_before, alive_after = count_alive(before)[0], count_alive(after)[0]
    fraction = (alive_before - alive_after) / alive_before if alive_before else 0.0
    return allr_discount(math.sqrt(pruned_sq), math.sqrt(alive_sq), fraction, retrain_epochs, budget)


def run_imp(ctx: RunContext, repeat: int) -> None:
    """Run one repeat of IMP / AIMP / one-shot / BIMP, emitting ``epoch`` and ``round`` events."""
    cfg = ctx.config
    algo = cfg.algorithm
    rep = Repeat(ctx, repeat)
    model, ckpt = rep.model, rep.ckpt
    T, k, R = cfg.training.epochs, algo.rewind_epoch, cfg.n_rounds
    bimp = algo.name == "bimp"
    pruner = make_pruner(cfg, model, ctx.data)

    done = ckpt.last_round() if ctx.resume else None
    if done is None:
        masks = full_masks(rep.params)
        ckpt.save_weights("init", snapshot(model))
        if bimp:   # BIMP's dense phase: T0 epochs, linear from η₁ to 0
            dense_epochs = cfg.retrain_epochs(0)
            lr_at = retraining_lr("llr", rep.schedule, retrain_epochs=dense_epochs, steps_per_epoch=rep.steps,
                                  warmup_fraction=0.0)
            history = rep.train(0, None, range(dense_epochs), lr_at, 0)
        else:
            if k == 0:
                ckpt.save_weights("rewind", snapshot(model))

            def save_rewind_point(stats) -> None:
                if stats.schedule_epoch + 1 == k:
                    ckpt.save_weights("rewind", snapshot(model))
            history = rep.train(0, None, range(T), rep.replay, 0, after_epoch=save_rewind_point)
        rep.finish_round(0, masks, history, 0)
        first, cumulative = 1, 0
    else:
        model.load_state_dict(ckpt.load_weights("latest", ctx.device))
        masks = ckpt.load_masks(done["round"], ctx.device)
        if hasattr(pruner, "record"):   # AIAP: T[r] depends on the parameter counts P[0..r-1]
            for past in range(done["round"]):
                pruner.record(past, ckpt.load_masks(past, ctx.device))
        first, cumulative = done["round"] + 1, done["cumulative_epochs"]
        ctx.emit("resumed", repeat=repeat, from_round=done["round"])

    restart = None
    if algo.rewind == "weights" and not bimp:
        restart = restart_state(algo.reinit, ckpt.load_weights("rewind", ctx.device),
                                ckpt.load_weights("init", ctx.device), list(rep.params),
                                lambda: rep.build_model(rep.seed + 7919 * (repeat + 1)).state_dict())
    rate = cfg.per_round_rate
    dense_state = ckpt.load_weights("round_000", ctx.device) if first <= R else None
    for r in range(first, R + 1):
        previous, previous_state = masks, snapshot(model)
        masks = pruner.prune(masks, r, rate, round_generator(rep.seed, r))
        epochs = cfg.retrain_epochs(r)
        extra = {}
        if bimp or cfg.keeps_weights_with_policy:
            policy = "allr" if bimp else algo.lr_policy
            d = _allr_d(rep, previous, masks, epochs, T) if policy == "allr" else 1.0
            lr_at = retraining_lr(policy, rep.schedule, retrain_epochs=epochs, steps_per_epoch=rep.steps,
                                  warmup_fraction=algo.warmup_fraction, d=d)
            schedule_epochs = range(epochs)
            extra = {"lr_policy": policy, "allr_d": d if policy == "allr" else None}
        else:
            if restart is not None:
                model.load_state_dict(restart)
            if algo.rewind == "none":
                fine_tune_lr = rep.schedule.last_lr(rep.steps)
                lr_at = lambda t, lr=fine_tune_lr: lr  # noqa: E731 - constant last LR
            else:
                lr_at = rep.replay
            schedule_epochs = range(k, k + epochs)
        history = rep.train(r, masks, schedule_epochs, lr_at, cumulative)
        extra.update(round_stability_fields(previous_state, model.state_dict(), dense_state, masks))
        cumulative += epochs
        rep.finish_round(r, masks, history, cumulative, **extra)


__all__ = ["run_imp"]
