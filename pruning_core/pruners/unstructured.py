"""Unstructured pruning: remove individual weights by score, locally or globally.

Rounding and ties (the rule every test and every paper reproduction relies on):

* A rate p removes ``n_prune = ⌊p · n_alive + ½⌋`` of the ``n_alive`` surviving weights of the
  group being ranked (each layer for ``local``, all layers together for ``global``): round half
  up, so p = 0.2 of 5 alive weights prunes exactly 1 and of 7 prunes 1 (1.4 → 1).
* The ``n_prune`` alive weights with the smallest scores are pruned; among equal scores the one
  that comes first (earlier layer in module order, then lower flat index) is pruned first. The
  count is therefore always exact, unlike a ``score ≤ quantile`` threshold (AIMP's Algorithm 1),
  which prunes every tied weight.
"""

from __future__ import annotations

import math

import torch

from ..masks import Masks


def prune_count(rate: float, n_alive: int) -> int:
    """Number of weights a rate p removes from n_alive survivors: ⌊p·n + ½⌋ (round half up)."""
    return min(n_alive, int(math.floor(rate * n_alive + 0.5 + 1e-9)))


def score_weights(method: str, params: dict[str, torch.Tensor],
                  generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Score per weight: ``magnitude`` = |w|; ``random`` = U(0, 1) drawn from ``generator`` (on CPU)."""
    if method == "magnitude":
        return {n: p.detach().abs().float() for n, p in params.items()}
    if method == "random":
        return {n: torch.rand(p.shape, generator=generator).to(p.device) for n, p in params.items()}
    raise ValueError(f"pruner.method: unknown scoring method {method!r}; allowed: magnitude, random")


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
    """New masks: in each (layer names, rate) group, prune ⌊rate · alive + ½⌋ of its alive weights
    with the lowest scores, ranked jointly. Layers in no group are left as they are. The input
    masks are not modified."""
    new = dict(masks)
    for names, rate in groups:
        if rate > 0 and names:
            for name, mask in zip(names, _prune_group([scores[n] for n in names], [masks[n] for n in names], rate)):
                new[name] = mask
    return new


def prune_unstructured(scores: dict[str, torch.Tensor], masks: Masks, rate: float, scope: str,
                       layer_rates: dict[str, float] | None = None) -> Masks:
    """New masks after removing a fraction ``rate`` of the alive weights by lowest score.

    ``scope="global"`` ranks every layer's weights together (one sort over the concatenation);
    ``"local"`` prunes each layer at the same rate on its own. ``layer_rates`` takes layers out of
    the shared ranking and prunes each of them locally at its own rate (the output layer at its own
    rate; 0 leaves it untouched).
    """
    if scope not in ("global", "local"):
        raise ValueError(f"pruner.scope: got {scope!r}; allowed: global, local")
    layer_rates = layer_rates or {}
    shared = tuple(n for n in masks if n not in layer_rates)
    groups = [(shared, rate)] if scope == "global" else [((n,), rate) for n in shared]
    groups += [((name,), own) for name, own in layer_rates.items()]
    return prune_groups(scores, masks, groups)
