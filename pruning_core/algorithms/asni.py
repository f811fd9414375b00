"""ASNI (Damadi et al., "Amenable Sparse Network Investigator"): gradual pruning on the sigmoid
schedule (ASNI-I), then ASNI-II.

**ASNI-I** (Algorithm 3, lines 1–11) is :class:`~.gradual.Gradual` on the ``sigmoid`` schedule
p_e = α · sigmoid((e − βE)/γ) (β = 0.5 and γ = E/10 by default; α given, or solved so that p_E is
the target exactly), over the weights of every pruned conv/linear layer.

**ASNI-II** (lines 12–19, ``amenable``). From θ̂*, the weights ASNI-I ends with, per layer l: c₊ =
mean of its positive surviving weights, c₋ = mean of its negative ones. The *amenable* network
keeps the ASNI-I mask m̂ and starts from c₊ where θ̂* > 0, c₋ where θ̂* < 0, 0 where pruned; biases
start at 0 and batch norm at weight 1, bias 0 (the paper's Section 4.1); it is trained from
scratch for E epochs on the same schedule (fresh optimizer): round E + 1, variant "ASNI-II". The
control, the paper's T1-S, trains the same mask from the original initialisation θ₀ ⊙ m̂: round
E + 2, variant "original-init". Both cost E epochs on top of ASNI-I's E (``cumulative_epochs`` 2E)
and are evaluations, not further rounds of the trajectory. A layer with no positive (negative)
survivors has no c₊ (c₋): null, and no weight uses it; a surviving weight that is exactly 0 starts
at 0 but stays in the mask.

Then one ``asni_summary`` event: the paper's Table 2 columns T1-A-I, T1-A-II, T1-S, the final
sparsity against the plan, and c₊, c₋ per layer. T1-D, the dense network trained E epochs, is not
trained here: it is round 0 of an ``imp`` run with the same training settings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..config.fields import choice, option
from ..lr_policies import Replay
from ..plan import LRPlan, Plan, RoundPlan
from ..registry import ALGORITHMS, SCHEDULES
from .gradual import Gradual

VARIANTS = {"ASNI-II": "amenable", "original-init": "original_init"}


@ALGORITHMS.register("asni", label="asni: sigmoid per epoch, then ASNI-II")
@dataclass(frozen=True)
class ASNI(Gradual):
    """ASNI-I (gradual pruning on a sigmoid) and ASNI-II (retraining its mask from two centroids per layer)."""

    variant = "ASNI-I"

    schedule: Any = choice(SCHEDULES, "sigmoid", "ASNI's sigmoid schedule.", allowed=("sigmoid",))
    amenable: bool = option(True, "ASNI-II: after ASNI-I, retrain its mask from the two-centroid init "
                            "(c+, c- per layer) and from the original init (the paper's T1-A-II and T1-S).")

    def plan(self, config) -> Plan:
        plan = super().plan(config)
        if not self.amenable:
            return plan
        E, final = config.training.epochs, plan.rounds[-1].sparsity
        extra = tuple(RoundPlan(E + i, E, LRPlan(Replay(), E, 0), final, final, treatment=treatment,
                                cumulative=2 * E, search=False, variant=variant)
                      for i, (variant, treatment) in enumerate(VARIANTS.items(), start=1))
        return replace(plan, rounds=plan.rounds + extra)

    def run_round(self, run, step: RoundPlan) -> None:
        if step.variant not in VARIANTS:
            return super().run_round(run, step)
        from ..amenable import amenable_state, centroids       # torch: only inside a run

        masks = run.masks
        if step.variant == "ASNI-II":
            theta_star = run.current_state()
            cents = centroids({k: theta_star[k] for k in masks}, masks)
            run.memo["centroids"] = cents
            run.load_state(amenable_state(run.model, run.saved_state("init"), theta_star, masks, cents))
        else:
            cents = None
            run.load_state(run.saved_state("init"))           # T1-S: θ₀ ⊙ m̂ (the loop masks it)
        history = run.train(step)
        run.memo.setdefault("results", {})[step.variant] = history[-1].test_accuracy
        run.finish_round(step, history, variant=step.variant, centroids=cents)

    def finish(self, run) -> None:
        E = run.config.training.epochs
        planned = self.schedule.sparsities(E)
        results = run.memo.get("results", {})
        alive, total = run.alive_weights()
        run.emit("asni_summary", repeat=run.repeat, seed=run.seed, epochs=E, alpha=self.schedule.alpha_for(E),
                 beta=self.schedule.beta, gamma=self.schedule.gamma_for(E),
                 target_sparsity=self.schedule.target_sparsity, planned_final_sparsity=planned[-1],
                 final_sparsity=1 - alive / total, pruned_group_sparsity=run.pruned_group_sparsity(),
                 remaining_weights=alive, total_weights=total, t1_d=None, t1_a_i=results.get("ASNI-I"),
                 t1_a_ii=results.get("ASNI-II"), t1_s=results.get("original-init"),
                 centroids=run.memo.get("centroids") if self.amenable else None,
                 note="T1-D (dense, E epochs) is not trained by asni: see round 0 of an imp run")
