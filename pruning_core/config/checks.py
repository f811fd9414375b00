"""Constraints between fields of a config; each error names the field to change."""

from __future__ import annotations

from .fields import FieldError
from .schema import _IMP, Config

def cross_checks(c: Config) -> list[FieldError]:
    """Constraints between fields (each error names the field to change)."""
    errors: list[FieldError] = []
    a, pr, tr = c.algorithm, c.pruner, c.training
    T, k, tau = tr.epochs, a.rewind_epoch, a.partial_epochs
    k_used = a.name in _IMP and not (c.keeps_weights_with_policy and a.retrain_epochs is not None)
    if k_used and k >= T:
        errors.append(FieldError("algorithm.rewind_epoch", k,
                                 f"an epoch 0 <= k < training.epochs ({T}), so that T - k >= 1"))
    if a.name == "imp" and tau is not None and not (k < tau <= T):
        errors.append(FieldError("algorithm.partial_epochs", tau,
                                 f"tau with rewind_epoch ({k}) < tau <= training.epochs ({T}), "
                                 "so that intermediate rounds retrain tau - k >= 1 epochs"))
    if c.keeps_weights_with_policy and a.lr_policy == "lrw" and (a.retrain_epochs or T - k) > T:
        errors.append(FieldError("algorithm.retrain_epochs", a.retrain_epochs,
                                 f"at most training.epochs ({T}): LRW replays the schedule's last T_rt epochs"))
    if a.name in ("asni", "gradual") and a.target_sparsity is None and \
            not (a.name == "asni" and a.sigmoid_alpha is not None):
        errors.append(FieldError("algorithm.target_sparsity", None,
                                 "a final sparsity in (0, 1) (asni also accepts sigmoid_alpha instead)"))
    if a.name == "asni" and a.sigmoid_alpha is not None and a.target_sparsity is not None:
        errors.append(FieldError("algorithm.sigmoid_alpha", a.sigmoid_alpha,
                                 "null when target_sparsity is given (alpha is then solved from it)"))
    if a.name == "gradual" and not (a.gradual_start < c.gradual_end() <= T):
        errors.append(FieldError("algorithm.gradual_end", a.gradual_end,
                                 f"an epoch with gradual_start ({a.gradual_start}) < end <= training.epochs ({T})"))
    if a.name == "bimp" and T - a.bimp_dense_epochs < a.rounds:
        errors.append(FieldError("algorithm.bimp_dense_epochs", a.bimp_dense_epochs,
                                 f"T0 <= training.epochs - rounds ({T - a.rounds}), so every round retrains >= 1 epoch"))
    if pr.method in ("activation", "aiap") and pr.structure != "filters":
        errors.append(FieldError("pruner.structure", pr.structure,
                                 "filters: activation-based pruning (IAP, AIAP) removes whole filters/neurons"))
    if pr.scope == "global" and (pr.conv_rate is not None or pr.dense_rate is not None):
        errors.append(FieldError("pruner.scope", pr.scope,
                                 "local or per_type when conv_rate/dense_rate are set (one global ranking has one rate)"))
    if pr.method == "activation" and pr.scope != "local":
        errors.append(FieldError("pruner.scope", pr.scope, "local: IAP prunes a fraction of each layer's filters"))
    if pr.structure == "filters" and c.model.name.startswith("resnet"):
        errors.append(FieldError("pruner.structure", pr.structure,
                                 "unstructured, channels or hybrid for ResNets: filter pruning needs a plain "
                                 "chain of layers (skip connections share channels)"))
    if pr.structure == "hybrid" and pr.layers != "all":
        errors.append(FieldError("pruner.layers", pr.layers, "all: hybrid prunes convs and linear layers"))
    if a.name in ("asni", "gradual"):
        for name in ("output_rate", "conv_rate", "dense_rate"):
            if getattr(pr, name) not in (None, 0, 0.0):
                errors.append(FieldError(f"pruner.{name}", getattr(pr, name),
                                         f"null or 0 for {a.name}: a per-round rate means nothing on a sparsity schedule"))
    if a.name in ("asni", "gradual") and (pr.structure != "unstructured" or pr.method not in ("magnitude", "random")):
        errors.append(FieldError("pruner.structure", pr.structure,
                                 f"unstructured magnitude or random pruning: {a.name} prunes weights globally"))
    if any(m <= 0 or m >= T for m in tr.milestones) or tr.milestones != sorted(set(tr.milestones)):
        errors.append(FieldError("training.milestones", tr.milestones,
                                 f"increasing epochs strictly between 0 and training.epochs ({T})"))
    if tr.warmup_epochs >= T:
        errors.append(FieldError("training.warmup_epochs", tr.warmup_epochs,
                                 f"a number of epochs < training.epochs ({T})"))
    device = c.device
    if not (device in ("auto", "cpu", "cuda", "mps") or
            (device.startswith("cuda:") and device[5:].isdigit())):
        errors.append(FieldError("device", device, "auto, cpu, cuda, cuda:N or mps"))
    return errors
