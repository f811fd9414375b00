"""Counting rules shared by every selection: how many units a rate removes, and which.

* A rate p removes ``n_prune = ⌊p · n_alive + ½⌋`` of the ``n_alive`` surviving units of the
  group being ranked: round half up, so p = 0.2 of 5 alive prunes exactly 1 and of 7 prunes 1
  (1.4 → 1).
* The ``n_prune`` alive units with the smallest scores are pruned; among equal scores the one
  that comes first (earlier layer in module order, then lower flat index) is pruned first. The
  count is therefore always exact, unlike a ``score ≤ quantile`` threshold (AIMP's Algorithm 1),
  which prunes every tied unit.
"""

from __future__ import annotations

import math

import torch

from ..masks import Masks


def prune_count(rate: float, n_alive: int) -> int:
    """Number of units a rate p removes from n_alive survivors: ⌊p·n + ½⌋ (round half up)."""
    return min(n_alive, int(math.floor(rate * n_alive + 0.5 + 1e-9)))


def _prune_group(scores: list[torch.Tensor], masks: list[torch.Tensor], rate: float) -> list[torch.Tensor]:
    """Prune ⌊p·n_alive + ½⌋ of the alive entries of the group jointly by score (ties: first first)."""
    flat_mask = torch.cat([m.reshape(-1) for m in masks])
    n_prune = prune_count(rate, int(flat_mask.sum()))
    if n_prune == 0:
        return [m.clone() for m in masks]
    flat_scores = torch.cat([s.reshape(-1).float() for s in scores])
    flat_scores = torch.where(flat_mask, flat_scores, torch.full_like(flat_scores, math.inf))
    victims = torch.sort(flat_scores, stable=True).indices[:n_prune]
    new_flat = flat_mask.clone()
    new_flat[victims] = False
    out, offset = [], 0
    for m in masks:
        out.append(new_flat[offset:offset + m.numel()].view_as(m))
        offset += m.numel()
    return out


def prune_groups(scores: dict[str, torch.Tensor], masks: Masks,
                 groups: list[tuple[tuple[str, ...], float]]) -> Masks:
    """New masks: in each (layer names, rate) group, prune ⌊rate · alive + ½⌋ of its alive entries
    with the lowest scores, ranked jointly. Layers in no group are left as they are. The input
    masks are not modified."""
    new = dict(masks)
    for names, rate in groups:
        if rate > 0 and names:
            for name, mask in zip(names, _prune_group([scores[n] for n in names], [masks[n] for n in names], rate)):
                new[name] = mask
    return new


def prune_to_sparsity(scores: dict[str, torch.Tensor], masks: Masks, groups: list[tuple[str, ...]], p: float) -> Masks:
    """New masks in which each group of n entries has exactly ⌊p·n + ½⌋ pruned: the missing ones
    are the alive entries with the lowest scores (none if the group is already that sparse; a
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
