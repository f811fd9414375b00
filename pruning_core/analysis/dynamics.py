"""Mask dynamics and parameter norms per epoch (Zullich et al., AIMP paper, Sec. V-F).

At epoch t of iteration (round) i the *potential* mask m̃_t^(i) is the mask that pruning would
give if it happened now. With P^(i) the number of parameters in the model at iteration i — here
the **alive prunable weights** (conv/linear weights whose mask is True; biases and batch norm
are never pruned and are not counted) and P^(0) the prunable weights of the dense model:

    D^(i)  = Σ_{j=1}^{P^(i)} 1(m̃_{t,j}^(i) ≠ m̃_{t−1,j}^(i)) / P^(i)
    D̃^(i) = Σ_{j=1}^{P^(0)} 1(m̃_{t,j}^(i) ≠ m̃_{t−1,j}^(i)) / P^(0)

Both numerators count the same entries (pruned weights are False in every potential mask), so
D̃^(i) = D^(i) · P^(i)/P^(0) and D^(0) = D̃^(0). The parameter indicators are the L∞ norm and
L1-TOP(k) = Σ of the k largest |θ_j| (k = 1000 by default; k ≥ the number of weights sums them
all), both over the prunable weights θ_t^(i) (pruned ones are 0; batch-norm scales, which sit
near 1 and would dominate L∞, are left out).

Choices where the paper is silent:

* **Which potential mask.** m̃ is the unstructured *magnitude* mask over the run's layer
  groups (:func:`pruning_core.pruners.grouping.layer_groups`: grouping, per-type and output-layer
  rates) at the plan's per-round rate p (0.2 for gradual pruning, which has none),
  pruning ⌊p·alive + ½⌋ per group with the engine's tie rule (:func:`prune_groups`) — exactly
  what the unstructured magnitude pruner would return now, AIMP's setting. For random,
  structured or activation pruners the magnitude mask is still used (a random mask's dynamics
  are noise; calling a stateful pruner such as AIAP every epoch would change its state); pass
  ``potential_fn`` to use another rule.
* **First epoch of a round.** m̃_{t−1}^(i) does not exist at t = 1, so D and D̃ are ``None``
  there (comparing with the previous round's last epoch would count the pruning step itself).
  Call :meth:`MaskDynamics.start_round` with the round's starting weights (e.g. the rewound
  θ_k ⊙ m^(i)) to compare the first epoch with them instead.
* **Current masks.** The epoch hook infers m^(i) from the weights (w ≠ 0): the engine keeps
  pruned weights at exactly 0 after every step; a surviving weight that is exactly 0.0 in
  float32 would be counted as pruned (probability ~0). Pass ``masks_fn`` to give them exactly.

Cost per update: one |w| and one stable sort per layer group (what pruning costs once), one
comparison with the stored previous mask, one top-k per layer, two host syncs.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..masks import Masks, output_layer_name, prunable_parameters
from ..pruners.counting import prune_groups
from ..pruners.grouping import layer_groups
from ..pruners.units import layer_kind

# p of the potential mask for algorithms without a per-round rate (gradual pruning): the
# lottery-ticket paper's 20 %.
DEFAULT_POTENTIAL_RATE = 0.2

Groups = list[tuple[tuple[str, ...], float]]
PotentialFn = Callable[[dict[str, torch.Tensor], Masks], Masks]

__all__ = ["MaskDynamics", "dynamics_hook", "l1_top_k", "linf_norm", "potential_magnitude_mask"]


@torch.no_grad()
def potential_magnitude_mask(params: dict[str, torch.Tensor], masks: Masks, groups: Groups) -> Masks:
    """m̃: the masks unstructured magnitude pruning of ``groups`` (names, rate) would give now."""
    scores = {n: p.detach().abs().float() for n, p in params.items()}
    return prune_groups(scores, masks, groups)


def _top_magnitudes(params: dict[str, torch.Tensor], k: int) -> torch.Tensor:
    """The k largest |θ_j| over all given tensors (fewer if they hold fewer entries), on the device."""
    parts = []
    for p in params.values():
        flat = p.detach().reshape(-1).abs().float()
        parts.append(torch.topk(flat, min(k, flat.numel())).values if flat.numel() > k else flat)
    cat = torch.cat(parts)
    return torch.topk(cat, min(k, cat.numel())).values


@torch.no_grad()
def l1_top_k(params: dict[str, torch.Tensor], k: int = 1000) -> float:
    """L1-TOP(k): the sum of the k largest magnitudes over all given tensors (all of them if fewer)."""
    return float(_top_magnitudes(params, k).sum())


@torch.no_grad()
def linf_norm(params: dict[str, torch.Tensor]) -> float:
    """L∞: the largest magnitude over all given tensors (= L1-TOP(1))."""
    return float(_top_magnitudes(params, 1).sum())


class MaskDynamics:
    """Tracks D^(i), D̃^(i), L∞ and L1-TOP(k) epoch after epoch of one repeat.

    ``groups``: [(layer names, rate p)] ranked together, as :func:`prune_groups` takes them;
    ``potential_fn(params, masks) -> masks`` replaces the magnitude potential mask if given.
    """

    def __init__(self, groups: Groups, topk: int = 1000, potential_fn: PotentialFn | None = None):
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        self.groups = [(tuple(names), float(rate)) for names, rate in groups]
        self.topk = int(topk)
        self.potential_fn = potential_fn
        self._previous: Masks | None = None
        self._round: int | None = None
        self._fresh = False              # _previous was set by start_round for the coming round

    @classmethod
    def for_run(cls, config, model: torch.nn.Module, rate: float, topk: int | None = None) -> "MaskDynamics":
        """The tracker of a run: the layer groups of ``config.pruner`` at per-round rate p."""
        return cls(potential_groups(config, model, rate), topk=config.analysis.topk if topk is None else topk)

    def potential(self, params: dict[str, torch.Tensor], masks: Masks) -> Masks:
        """m̃_t^(i) for the current weights and masks."""
        if self.potential_fn is not None:
            return self.potential_fn(params, masks)
        return potential_magnitude_mask(params, masks, self.groups)

    @staticmethod
    @torch.no_grad()
    def current_masks(params: dict[str, torch.Tensor]) -> Masks:
        """m^(i) inferred from the weights: alive ⇔ w ≠ 0 (pruned weights are kept at exactly 0)."""
        return {n: p.detach() != 0 for n, p in params.items()}

    def reset(self) -> None:
        """Forget the previous potential mask: the next update reports D = D̃ = None."""
        self._previous, self._round, self._fresh = None, None, False

    @torch.no_grad()
    def start_round(self, params: dict[str, torch.Tensor], masks: Masks | None = None,
                    round_index: int | None = None) -> None:
        """Use the round's starting weights as m̃_0^(i), so the first epoch gets D and D̃ too."""
        masks = self.current_masks(params) if masks is None else masks
        self._previous = self.potential(params, masks)
        self._round = round_index
        self._fresh = True

    @torch.no_grad()
    def update(self, params: dict[str, torch.Tensor], masks: Masks | None = None,
               round_index: int | None = None) -> dict[str, float | int | None]:
        """Indicators after one epoch: ``mask_change_D``, ``mask_change_D_tilde``, ``mask_changes``
        (the numerator, a count), ``linf`` and ``l1_top_k``.

        ``masks`` = m^(i) (None: inferred from w ≠ 0). When ``round_index`` differs from the
        previous call's, a new round starts and D, D̃ are None (unless :meth:`start_round` set it).
        """
        masks = self.current_masks(params) if masks is None else masks
        if round_index is not None and round_index != self._round:
            if not self._fresh:          # a new round: no m̃_{t−1} unless start_round gave one
                self._previous = None
            self._round = round_index
        self._fresh = False
        potential = self.potential(params, masks)
        top = _top_magnitudes(params, self.topk)
        norms = torch.stack([top[0], top.sum()]).tolist()
        changes = None
        alive_t = sum(m.sum() for m in masks.values())
        total = sum(m.numel() for m in masks.values())
        if self._previous is not None:
            changed_t = sum((potential[n] != self._previous[n]).sum() for n in potential)
            changes, alive = (int(v) for v in torch.stack([changed_t, alive_t]).tolist())
        else:
            alive = int(alive_t)
        self._previous = potential
        return {
            "mask_change_D": None if changes is None else (changes / alive if alive else 0.0),
            "mask_change_D_tilde": None if changes is None else changes / total,
            "mask_changes": changes,
            "linf": float(norms[0]),
            "l1_top_k": float(norms[1]),
        }


def potential_groups(config, model: torch.nn.Module, rate: float) -> Groups:
    """(layer names, p) of the groups the potential magnitude mask prunes."""
    kinds = {n: layer_kind(p) for n, p in prunable_parameters(model).items()}
    return [(g.names, g.rate) for g in layer_groups(config.pruner, kinds, output_layer_name(model), rate)]


def dynamics_hook(run, *, masks_fn: Callable[[], Masks | None] | None = None,
                  potential_fn: PotentialFn | None = None) -> Callable[[int, object], dict]:
    """An epoch hook for :class:`pruning_core.loop.RepeatRun`: ``hook(round_index, stats) -> fields``.

    ``run`` gives the config, the plan, the model and its prunable ``params``. ``masks_fn()`` may
    return the current masks exactly, on the weights' device (None or no ``masks_fn``: inferred
    from w ≠ 0). D and D̃ are None at the first epoch of each round, except in the rounds of
    gradual pruning that are single epochs of one run (``prune_after``): there D compares
    consecutive epochs, across the scheduled pruning step. A round that restarts the weights
    (ASNI-II, its control) starts afresh: a re-initialisation is not a change of the mask.
    The tracker is ``hook.tracker``.
    """
    rate = run.plan.rate if run.plan.rate is not None else DEFAULT_POTENTIAL_RATE
    tracker = MaskDynamics.for_run(run.config, run.model, rate)
    tracker.potential_fn = potential_fn
    continuing = {r.index for r in run.plan.rounds if r.prune_after}

    def hook(round_index: int, stats) -> dict:
        masks = masks_fn() if masks_fn is not None else None
        return tracker.update(run.params, masks, None if round_index in continuing else round_index)

    hook.tracker = tracker
    return hook
