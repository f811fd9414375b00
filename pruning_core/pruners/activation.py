"""Activation-based filter pruning: IAP and AIAP (Zhao, Jain & Zhao, "Iterative Activation-based
Structured Pruning").

**Activations.** Ā_j^i is the mean post-ReLU output of filter j of layer i (over the batch and the
h^i × w^i positions), or of neuron j of a linear layer (over the batch), on one batch of
``pruner.activation_batch`` training images drawn with ``data.sample_train_batch(b, generator)``,
in eval mode under ``torch.no_grad()``, with the current masks applied (``functional_call`` on
W ⊙ M, the model itself is not touched). "Post-ReLU" is the output of the first ``nn.ReLU``
module that follows the layer in module order, before the next conv/linear layer, so batch norm
(VGG: conv → BN → ReLU) is included; a layer with no such ReLU raises a ValueError. The paper's
formula writes Ā = (1/b) Σ_k Σ_l a_kl (positions summed, not averaged) but calls it the mean; we
take the mean over b·h·w, which the text describes and which keeps λ independent of the image size.
The output layer (the classes) is never pruned; removed filters also remove the next layer's input
channel (see :mod:`.structured`).

**IAP** ranks the alive filters of each layer by Ā and prunes ⌊p·m^i + ½⌋ of them (m^i = alive
filters), p = ``conv_rate`` for convs and ``dense_rate`` for linear layers (the paper's LeNet
setting: 10 % and 20 %). IAP is local: other scopes raise a ValueError.

**AIAP** prunes every alive filter/neuron with Ā ≤ T[r], in conv *and* linear layers (the paper
describes the conv2d step but reports that AIAP "tends to prune more neurons from fully connected
layers"; LeNet-300-100 has only linear layers). The threshold, with s = ``aiap_start_round`` (3),
λ = ``aiap_lambda`` (0.01) and the 1 % of ``aiap_min_change``:

    T[r] = 0                if r ≤ s
           T[r−1] + λ       if r > s and d < 1 %
           T[r−1]           if r > s and d ≥ 1 %

    d = (P[r−2] − P[r−1]) / P[0]

P[r] is the number of alive conv weights after round r (P[0] = all conv weights of the original
network), so d is the fraction of the *original* conv parameters that round r−1 removed, as the
paper defines it. Rounds before 0 count as P[0] (nothing removed). Without conv layers among the
pruned ones (LeNet-300-100, or fc-only), P counts the weights of every linear layer instead. With
T = 0 the rule prunes filters whose mean activation is exactly 0 (ReLU is never negative).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from ..config import Config
from ..masks import Masks
from . import layer_kind
from .structured import FilterPruner, OUT, propagate_dead_filters, units_to_mask

__all__ = ["AIAPPruner", "IAPPruner", "mean_activations", "next_threshold", "relu_after"]


def relu_after(model: nn.Module, names: list[str]) -> dict[str, nn.ReLU]:
    """For each prunable weight name, the first nn.ReLU after its layer, before the next conv/linear."""
    weight_of = {}
    order = list(model.named_modules())
    for n in names:
        weight_of[n.rsplit(".", 1)[0] if "." in n else ""] = n
    found: dict[str, nn.ReLU] = {}
    current = None
    for mod_name, module in order:
        if mod_name in weight_of:
            current = weight_of[mod_name]
        elif isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            current = None
        elif isinstance(module, nn.ReLU) and current is not None and current not in found:
            found[current] = module
            current = None
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"pruner.method: activation-based pruning needs an nn.ReLU module after "
                         f"each pruned layer; none follows {', '.join(missing)}")
    return found


@torch.no_grad()
def mean_activations(model: nn.Module, masks: Masks, names: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Ā per filter/neuron (float64) of each layer in ``names``, with the masks applied, in eval mode."""
    relus = relu_after(model, names)
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for n, relu in relus.items():
        def keep(_module, _inputs, out, n=n):
            outputs[n] = out.detach()
        handles.append(relu.register_forward_hook(keep))
    params = dict(model.named_parameters())
    masked = {n: params[n] * m.to(params[n].dtype) for n, m in masks.items()}
    was_training = model.training
    model.eval()
    try:
        functional_call(model, masked, (x,))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return {n: out.double().transpose(0, 1).reshape(out.shape[1], -1).mean(dim=1) for n, out in outputs.items()}


def next_threshold(previous: float, round_index: int, d: float, lam: float, start_round: int,
                   min_change: float) -> float:
    """T[r] from T[r−1] and d: 0 for r ≤ s, else T[r−1] + λ when d < min_change, else T[r−1]."""
    if round_index <= start_round:
        return 0.0
    return previous + lam if d < min_change else previous


class _ActivationBase(FilterPruner):
    def __init__(self, config: Config, model: nn.Module, data):
        super().__init__(config, model)
        self.data = data

    def activations(self, masks: Masks, names: list[str], generator: torch.Generator) -> dict[str, torch.Tensor]:
        x, _ = self.data.sample_train_batch(self.pc.activation_batch, generator)
        return mean_activations(self.model, masks, names, x)


class IAPPruner(_ActivationBase):
    """IAP: per layer, prune ⌊p·m^i + ½⌋ of the m^i alive filters with the lowest Ā (ties: lower index)."""

    def __init__(self, config: Config, model: nn.Module, data):
        if config.pruner.scope != "local":
            raise ValueError(f"pruner.scope: got {config.pruner.scope!r}; IAP ranks the filters of each "
                             "layer on their own (mean activations of different layers are not comparable): "
                             "set scope = 'local'")
        super().__init__(config, model, data)

    def unit_scores(self, masks: Masks, names: list[str], generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.activations(masks, names, generator)


class AIAPPruner(_ActivationBase):
    """AIAP: prune alive filters/neurons with Ā ≤ T[r]; keeps the history P[·] that gives d and T[r].

    ``record(r, masks)`` stores P[r] from the masks after round r; :meth:`prune` records P[r−1]
    from the masks it receives. A pruner rebuilt on resume must be given the finished rounds'
    masks with ``record`` before its first ``prune`` (T[r] is a pure function of P[0..r−1]).
    """

    def __init__(self, config: Config, model: nn.Module, data):
        super().__init__(config, model, data)
        selected = [n for names, _ in self.groups(0.0) for n in names]
        convs = [n for n in selected if layer_kind(self.params[n]) == "conv"]
        self.counted = convs or [n for n in self.params if layer_kind(self.params[n]) == "linear"]
        self.total = sum(self.params[n].numel() for n in self.counted)   # P[0]
        self.remaining: dict[int, int] = {0: self.total}                 # P[r]
        self.thresholds: dict[int, float] = {}                            # T[r]

    def record(self, round_index: int, masks: Masks) -> None:
        """Store P[round_index], the alive weights of the counted layers in ``masks``."""
        self.remaining[round_index] = sum(int(masks[n].sum()) for n in self.counted)

    def fraction_removed(self, round_index: int) -> float:
        """d at round r: (P[r−2] − P[r−1]) / P[0] (P of rounds before 0 = P[0])."""
        before, last = (self.total if k < 0 else self.remaining.get(k) for k in (round_index - 2, round_index - 1))
        if before is None or last is None:
            raise RuntimeError(f"AIAP at round {round_index} needs P[{round_index - 2}] and P[{round_index - 1}]; "
                               "after a resume, call pruner.record(k, masks_k) for every finished round k")
        return (before - last) / self.total if self.total else 0.0

    def threshold(self, round_index: int) -> float:
        """T[r] (computed from the recorded history and cached)."""
        if round_index <= 0:
            return 0.0
        if round_index not in self.thresholds:
            pc = self.pc
            d = self.fraction_removed(round_index) if round_index > pc.aiap_start_round else 0.0
            self.thresholds[round_index] = next_threshold(self.threshold(round_index - 1), round_index, d,
                                                          pc.aiap_lambda, pc.aiap_start_round, pc.aiap_min_change)
        return self.thresholds[round_index]

    def prune(self, masks: Masks, round_index: int, rate: float, generator: torch.Generator) -> Masks:
        self.record(round_index - 1, masks)
        t = self.threshold(round_index)
        names = [n for g, _ in self.groups(rate) for n in g]
        act = self.activations(masks, names, generator)
        new = dict(masks)
        for n in names:
            keep = act[n].to(masks[n].device) > t
            new[n] = masks[n] & units_to_mask(keep, masks[n].shape, OUT)
        return propagate_dead_filters(new, self.links)
