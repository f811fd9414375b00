"""What IMP-like algorithms share: the retraining options and the retraining round they plan.

After each pruning step the surviving weights are *treated* (a registered treatment: rewind to
θ_k, keep, σ·sign(w₀), …) and retrained on a registered LR policy: ``replay`` retrains schedule
epochs k … T−1 (WR with ``rewind``, LRR with ``keep``; AIMP's intermediate rounds stop at τ);
the others train T_rt = ``retrain_epochs`` epochs (default T − k).
"""

from __future__ import annotations

from ..config.fields import FieldError, Not, choice, option
from ..plan import LRPlan, PruneStep, RoundPlan
from ..registry import LR_POLICIES, TREATMENTS

FRACTION = {"pruner.selection.name": ("fraction",)}
DEFAULT_REWIND_EPOCH = 5


def rewind_epoch_option():
    return option(DEFAULT_REWIND_EPOCH, "Rewind epoch k: the rewinding treatments restart from θ_k, the "
                  "state after k epochs of the dense training (k = 0: the original lottery ticket); the "
                  "replay policy retrains schedule epochs k … T−1; other policies default to T − k epochs.",
                  low=0, label="Rewind epoch k")


def treatment_option():
    return option("rewind", "Where the surviving weights restart from after pruning: rewind to θ_k (WR), "
                  "keep the trained weights (LRR, fine-tuning), σ·sign(w₀), sign(w₀) or a fresh "
                  "initialisation.", choices=TREATMENTS)


def lr_policy_option():
    return choice(LR_POLICIES, "replay", "The learning rate of each retraining (BIMP paper's policies).",
                  label="LR policy")


def retrain_epochs_option():
    return option(None, "T_rt: epochs of each retraining with a policy other than replay; null = T − k.",
                  low=1, example=1, when={"algorithm.lr_policy.name": Not(("replay",))})


def rewind_point_acts(algo) -> bool:
    """Whether k acts: a treatment reads θ_k, the policy replays from k, or T_rt defaults to T − k."""
    uses = getattr(TREATMENTS.get(algo.treatment), "uses_rewind_point", True)
    return uses or algo.lr_policy.replays or algo.retrain_epochs is None


def retrain_length(algo, T: int, replay_end: int | None = None) -> tuple[int, int]:
    """(epochs, first schedule epoch) of one retraining: replay trains k … end−1 (end = T, or τ
    in AIMP's intermediate rounds); other policies train T_rt epochs from position 0."""
    k = algo.rewind_epoch
    if algo.lr_policy.replays:
        return (replay_end if replay_end is not None else T) - k, k
    return (algo.retrain_epochs if algo.retrain_epochs is not None else T - k), 0


def retraining_round(algo, index: int, rate: float, sparsity: float | None, epochs: int, start: int,
                     cumulative: int) -> RoundPlan:
    """Round ``index``: prune a fraction ``rate`` of the alive units, treat, retrain."""
    return RoundPlan(index, epochs, LRPlan(algo.lr_policy, epochs, start), training_sparsity=sparsity,
                     sparsity=sparsity, prune=PruneStep.fraction(rate), treatment=algo.treatment,
                     cumulative=cumulative)


def check_retraining(algo, config) -> list[FieldError]:
    """k < T where k acts, k left at its default where it does not; LRW within T."""
    errors = []
    T, k = config.training.epochs, algo.rewind_epoch
    if rewind_point_acts(algo):
        if k >= T:
            errors.append(FieldError("algorithm.rewind_epoch", k,
                                     f"an epoch 0 <= k < training.epochs ({T}), so that T - k >= 1"))
    elif k != DEFAULT_REWIND_EPOCH:
        errors.append(FieldError("algorithm.rewind_epoch", k,
                                 f"{DEFAULT_REWIND_EPOCH} (the default): k acts only when the treatment "
                                 "rewinds, the LR policy is replay, or retrain_epochs is null"))
    if algo.lr_policy.plugin_name == "lrw" and retrain_length(algo, T)[0] > T:
        errors.append(FieldError("algorithm.retrain_epochs", algo.retrain_epochs,
                                 f"at most training.epochs ({T}): LRW replays the schedule's last T_rt epochs"))
    return errors
