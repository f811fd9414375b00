"""Weight stability across rounds (Paganini & Forde 2020, Sec. 5, Fig. 8) and stability to pruning
(Frankle et al. 2019, as used by the IAP paper, Sec. "stability", Fig. 6).

* **Weight stability** of round i (i ≥ 1), per layer: mean |w_i − w_{i−1}| over the weights
  alive in BOTH rounds, where w_i are the trained weights at the end of round i (round 0 = the
  trained dense network). With nested masks (no regrowth) "alive in both" is m^(i). Lower =
  more stable. Fig. 8 then averages over rounds: :func:`average_stability`.
* **Stability to pruning**: the L2 distance between the masked weights of the pruned network
  and of the original (dense) network at the end of training,
  ‖ m ⊙ (w_T^pruned − w_T^dense) ‖₂, over the prunable (conv/linear) weights that survive in m.
  Pruned weights are left out (the dense network's values there would measure how much was
  pruned, not whether the survivors converge to the same solution); biases and batch-norm
  parameters are left out too. ``relative=True`` divides by ‖ m ⊙ w_T^dense ‖₂.

The engine keeps only the last committed round's weights on disk (``round_<r>.pt``) and the dense
``round_000.pt``, so these are computed in the round loop: snapshot the trained weights before
pruning round i, and after training it call :func:`round_stability_fields`.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import torch

from ..masks import Masks
from .maskmath import MODEL_KEY, average_stability

__all__ = ["weight_stability", "stability_to_pruning", "round_stability_fields", "average_stability"]

State = Mapping[str, torch.Tensor]


def _alive(name: str, state: State, masks: Masks | None, prev_masks: Masks | None) -> torch.Tensor:
    if masks is not None and name in masks:
        alive = masks[name].to(state[name].device, torch.bool)
    else:
        alive = state[name] != 0
    if prev_masks is not None and name in prev_masks:
        alive = alive & prev_masks[name].to(alive.device, torch.bool)
    return alive


@torch.no_grad()
def weight_stability(prev_state: State, state: State, masks: Masks, *,
                     prev_masks: Masks | None = None) -> dict[str, float | None]:
    """{layer: mean |w_i − w_{i−1}|} over the weights alive in both rounds, plus ``"__model__"``.

    ``masks`` = m^(i) (its keys are the layers); ``prev_masks`` = m^(i−1) if masks can regrow
    (default: m^(i) ⊆ m^(i−1), so m^(i) alone is "alive in both"). A layer with no such weight
    gives ``None``. ``"__model__"`` is the mean over all those weights together.
    """
    out: dict[str, float | None] = {}
    total_sum = torch.zeros((), dtype=torch.float64)
    total_n = 0
    sums, counts = [], []
    for name in masks:
        alive = _alive(name, state, masks, prev_masks)
        diff = (state[name].float() - prev_state[name].to(state[name].device).float()).abs()
        sums.append(diff[alive].double().sum())
        counts.append(alive.sum())
    if sums:
        values = torch.stack([s.cpu() for s in sums]).tolist()
        ns = torch.stack([c.cpu() for c in counts]).tolist()
        for name, s, n in zip(masks, values, ns):
            out[name] = s / n if n else None
            total_sum += s
            total_n += n
    out[MODEL_KEY] = float(total_sum) / total_n if total_n else None
    return out


@torch.no_grad()
def stability_to_pruning(masked_state: State, dense_state: State, prunable_names: Iterable[str], *,
                         masks: Masks | None = None, relative: bool = False) -> float:
    """‖ m ⊙ (w^pruned − w^dense) ‖₂ over the prunable weights alive in m (inferred as w^pruned ≠ 0
    when ``masks`` is None); ``relative`` divides by ‖ m ⊙ w^dense ‖₂ (0 if that is 0)."""
    dist = torch.zeros((), dtype=torch.float64)
    ref = torch.zeros((), dtype=torch.float64)
    for name in prunable_names:
        w = masked_state[name].float()
        d = dense_state[name].to(w.device).float()
        alive = _alive(name, masked_state, masks, None)
        dist += ((w - d)[alive].double() ** 2).sum().cpu()
        if relative:
            ref += (d[alive].double() ** 2).sum().cpu()
    value = math.sqrt(float(dist))
    if relative:
        norm = math.sqrt(float(ref))
        return value / norm if norm else 0.0
    return value


def round_stability_fields(prev_state: State, state: State, dense_state: State, masks: Masks) -> dict:
    """The fields a ``round`` event gets for round i ≥ 1: ``weight_stability`` {layer: value, and
    "__model__"}, ``stability_to_pruning`` (L2) and ``stability_to_pruning_relative``."""
    names = list(masks)
    return {"weight_stability": weight_stability(prev_state, state, masks),
            "stability_to_pruning": stability_to_pruning(state, dense_state, names, masks=masks),
            "stability_to_pruning_relative": stability_to_pruning(state, dense_state, names, masks=masks,
                                                                  relative=True)}
