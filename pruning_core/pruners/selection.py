"""Selections (torch): from scores to masks, with :mod:`.counting`'s rules.

* :class:`FractionSelection` — remove ⌊p·n_alive + ½⌋ of the alive units of each group by lowest
  score (a ``fraction`` step), or prune each group to exactly ⌊s·n + ½⌋ of its n weights (a
  ``to_sparsity`` step, gradual pruning).
* :class:`ThresholdSelection` — AIAP (Zhao, Jain & Zhao): remove every alive unit whose score is
  at most T[r]. With s = ``start_round``, λ = ``step`` and ``min_change``:

      T[r] = 0                if r ≤ s
             T[r−1] + λ       if r > s and d < min_change
             T[r−1]           if r > s and d ≥ min_change

      d = (P[r−2] − P[r−1]) / P[0]

  P[r] is the number of alive conv weights after round r (P[0] = all conv weights of the pruned
  layers), so d is the fraction of the *original* conv parameters that round r−1 removed, as the
  paper defines it; without conv layers among the pruned ones, P counts every linear layer's
  weights. Rounds before 0 count as P[0]. P and T are the selection's state: they are saved with
  every round's commit and restored on resume.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..masks import Masks
from .counting import prune_count, prune_to_sparsity
from .units import layer_kind


def kth_smallest(values: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th smallest entry (1-based) of a flat tensor, as a 0-d tensor on its device: one
    ``torch.kthvalue`` on accelerators; on the CPU numpy's introselect (``np.partition``), which
    gives the same value 3–8x faster than torch's CPU ``kthvalue`` on 25 M entries."""
    if values.device.type == "cpu":
        return torch.as_tensor(np.partition(values.detach().numpy(), k - 1)[k - 1])
    return torch.kthvalue(values, k).values


def lowest_alive(flat_scores: torch.Tensor, flat_mask: torch.Tensor, n_prune: int) -> torch.Tensor:
    """The flat mask with the ``n_prune`` alive entries of lowest score removed; among equal scores
    the earliest flat index goes first (exactly what a stable sort of all scores would pick).

    One k-th-smallest selection on the flat view (:func:`kth_smallest`) gives the threshold t:
    every alive entry below t is pruned, and of the alive entries equal to t the first
    ``n_prune − #below`` in flat order. O(n), no full sort, no Python loop over entries.
    ``flat_scores`` (float32) is overwritten.
    """
    if n_prune <= 0:
        return flat_mask.clone()
    scores = flat_scores.masked_fill_(~flat_mask, math.inf)      # pruned entries rank last
    t = kth_smallest(scores, n_prune)
    new = flat_mask & (scores >= t)                               # alive and not below t
    wanted = n_prune - (int(torch.count_nonzero(flat_mask)) - int(torch.count_nonzero(new)))    # n_prune − #alive below t
    if wanted > 0:                                                # the first `wanted` ties at t go too
        tied = torch.nonzero(new & (scores == t)).view(-1)[:wanted]
        new[tied] = False
    return new


def prune_groups_kth(scores: dict[str, torch.Tensor], masks: Masks,
                     groups: list[tuple[tuple[str, ...], float]]) -> Masks:
    """:func:`.counting.prune_groups` (same count ⌊p·alive + ½⌋, same tie rule, same masks) with
    the ranking done by :func:`lowest_alive` on one flat concatenated view of each group."""
    new = dict(masks)
    for names, rate in groups:
        if rate <= 0 or not names:
            continue
        flat_mask = torch.cat([masks[n].reshape(-1) for n in names])
        n_prune = prune_count(rate, int(torch.count_nonzero(flat_mask)))
        if n_prune == 0:
            new.update({n: masks[n].clone() for n in names})
            continue
        flat_scores = torch.cat([scores[n].reshape(-1).float() for n in names])   # a fresh buffer
        kept, offset = lowest_alive(flat_scores, flat_mask, n_prune), 0
        for n in names:
            new[n] = kept[offset:offset + masks[n].numel()].view_as(masks[n])
            offset += masks[n].numel()
    return new


class FractionSelection:
    def __init__(self, options, pruner):
        self.options, self.pruner = options, pruner

    def begin(self, masks: Masks, round_index: int) -> None:
        """Called once per pruning step, with the masks before it."""

    def select(self, scores: dict, masks: Masks, groups, unit, step, round_index: int) -> Masks:
        if step.kind == "to_sparsity":
            return prune_to_sparsity(scores, masks, [names for names, rate in groups if rate > 0], step.value)
        alive = {n: unit.alive(masks[n]) for names, _ in groups for n in names}
        kept = prune_groups_kth({n: scores[n].to(alive[n].device) for n in alive}, alive, groups)
        new = dict(masks)
        for n in alive:
            new[n] = masks[n] & unit.expand(kept[n], masks[n].shape)
        return new

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Fraction selection keeps no state."""


def next_threshold(previous: float, round_index: int, d: float, lam: float, start_round: int,
                   min_change: float) -> float:
    """T[r] from T[r−1] and d: 0 for r ≤ s, else T[r−1] + λ when d < min_change, else T[r−1]."""
    if round_index <= start_round:
        return 0.0
    return previous + lam if d < min_change else previous


class ThresholdSelection:
    def __init__(self, options, pruner):
        self.options = options
        params = pruner.params
        selected = pruner.selected
        convs = [n for n in selected if layer_kind(params[n]) == "conv"]
        self.counted = convs or [n for n in params if layer_kind(params[n]) == "linear"]
        self.total = sum(params[n].numel() for n in self.counted)      # P[0]
        self.remaining: dict[int, int] = {0: self.total}                # P[r]
        self.thresholds: dict[int, float] = {}                           # T[r]

    def record(self, round_index: int, masks: Masks) -> None:
        """Store P[round_index], the alive weights of the counted layers in ``masks``."""
        self.remaining[round_index] = sum(int(masks[n].sum()) for n in self.counted)

    def fraction_removed(self, round_index: int) -> float:
        """d at round r: (P[r−2] − P[r−1]) / P[0] (P of rounds before 0 = P[0])."""
        before, last = (self.total if k < 0 else self.remaining.get(k) for k in (round_index - 2, round_index - 1))
        if before is None or last is None:
            raise RuntimeError(f"the threshold at round {round_index} needs P[{round_index - 2}] and "
                               f"P[{round_index - 1}]; restore the selection's state (load_state_dict) first")
        return (before - last) / self.total if self.total else 0.0

    def threshold(self, round_index: int) -> float:
        """T[r] (computed from the recorded history and cached)."""
        if round_index <= 0:
            return 0.0
        if round_index not in self.thresholds:
            o = self.options
            d = self.fraction_removed(round_index) if round_index > o.start_round else 0.0
            self.thresholds[round_index] = next_threshold(self.threshold(round_index - 1), round_index, d,
                                                          o.step, o.start_round, o.min_change)
        return self.thresholds[round_index]

    def begin(self, masks: Masks, round_index: int) -> None:
        self.record(round_index - 1, masks)

    def select(self, scores: dict, masks: Masks, groups, unit, step, round_index: int) -> Masks:
        t = self.threshold(round_index)
        new = dict(masks)
        for names, _ in groups:
            for n in names:
                keep = scores[n].to(masks[n].device) > t
                new[n] = masks[n] & unit.expand(keep, masks[n].shape)
        return new

    def state_dict(self) -> dict:
        return {"remaining": {str(k): v for k, v in self.remaining.items()},
                "thresholds": {str(k): v for k, v in self.thresholds.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.remaining = {int(k): v for k, v in state.get("remaining", {"0": self.total}).items()}
        self.thresholds = {int(k): v for k, v in state.get("thresholds", {}).items()}
