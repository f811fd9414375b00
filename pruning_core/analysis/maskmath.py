"""Mask arithmetic with numpy alone (no torch): the app and the torch modules share it.

Every function takes numpy bool arrays *or* torch bool tensors: anything with ``.detach()`` is
converted with ``.detach().cpu().numpy()`` (duck typing, so this module never imports torch).

* :func:`jaccard_distance`, :func:`jaccard_per_layer` — Paganini & Forde (2020), Sec. 4 and
  Fig. 3/4/9: the Jaccard distance between two pruning masks, computed over the **kept**
  (surviving, True) entries, i.e. between the sets of connections the two sub-networks keep:
  ``d_J(A, B) = 1 − |A ∩ B| / |A ∪ B|``. Two empty sets (nothing kept in either) give 0.0: the
  masks are identical, and 1 − 0/0 is defined by continuity of "identical sets have distance 0".
* :func:`effective_chain` — effective (implicit + explicit) pruning of a chain of conv/linear
  layers (Paganini & Forde, App. B); :mod:`.connectivity` derives the chain from a model.
* :func:`average_stability` — Paganini & Forde's Fig. 8 average of per-round weight stability.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np


MODEL_KEY = "__model__"


def as_bool_array(mask: Any) -> np.ndarray:
    """A numpy bool array from a numpy array, a (CPU or device) torch tensor or a nested list."""
    if hasattr(mask, "detach"):          # torch.Tensor, without importing torch
        mask = mask.detach().cpu().numpy()
    return np.asarray(mask).astype(bool, copy=False)


# ---- Jaccard distance ------------------------------------------------------------------------

def _counts(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(|A ∩ B|, |A ∪ B|) of two same-shaped bool arrays (True = kept)."""
    if a.shape != b.shape:
        raise ValueError(f"masks have different shapes {a.shape} and {b.shape}")
    return int(np.count_nonzero(a & b)), int(np.count_nonzero(a | b))


def _distance(inter: int, union: int) -> float:
    return 0.0 if union == 0 else 1.0 - inter / union


def jaccard_distance(a: Any, b: Any) -> float:
    """Jaccard distance 1 − |A∩B|/|A∪B| between the KEPT entries of two masks (both empty → 0.0).

    E.g. A = {0, 1, 2}, B = {1, 2, 3} kept: 1 − 2/4 = 0.5. Identical masks give 0, disjoint ones 1.
    """
    return _distance(*_counts(as_bool_array(a), as_bool_array(b)))


def jaccard_per_layer(masks_a: Mapping[str, Any], masks_b: Mapping[str, Any]) -> dict[str, float]:
    """Jaccard distance of each layer's kept weights, plus ``"__model__"`` over all layers together.

    The model-wide entry is the distance between the concatenations of all layers (so it weighs
    layers by their number of kept/union entries, not a mean of the per-layer distances). Both
    mask sets must cover the same layers with the same shapes.
    """
    if list(masks_a) != list(masks_b):
        only_a = sorted(set(masks_a) - set(masks_b))
        only_b = sorted(set(masks_b) - set(masks_a))
        if only_a or only_b:
            raise ValueError(f"masks cover different layers: only in A {only_a}, only in B {only_b}")
    out: dict[str, float] = {}
    total_inter = total_union = 0
    for name in masks_a:
        try:
            inter, union = _counts(as_bool_array(masks_a[name]), as_bool_array(masks_b[name]))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        out[name] = _distance(inter, union)
        total_inter += inter
        total_union += union
    out[MODEL_KEY] = _distance(total_inter, total_union)
    return out


# ---- effective sparsity of a chain of layers -------------------------------------------------

def _unit_view(next_mask: np.ndarray, units: int) -> np.ndarray:
    """The next layer's mask as (out, units, rest): input unit c owns columns c·g … (c+1)·g − 1.

    A conv unit (output channel) feeding a conv owns input channel c (g = 1, rest = kernel);
    feeding a linear layer after ``flatten`` (NCHW, channel-major) it owns the g = H·W
    consecutive features c·H·W … (c+1)·H·W − 1.
    """
    fan_in = next_mask.shape[1]
    if fan_in % units:
        raise ValueError(f"cannot map {units} units onto {fan_in} inputs of the next layer")
    return next_mask.reshape(next_mask.shape[0], units, -1)


def effective_chain(masks: Sequence[Any], has_bias: Sequence[bool] | bool = True, *,
                    bias_is_source: bool = True) -> list[np.ndarray]:
    """Effective masks of a chain of layers (weights (out, in, …) in forward order), to a fixed point.

    A weight is *effectively pruned* when it is explicitly pruned or disconnected:

    * **downstream** (Paganini & Forde, App. B): a unit (neuron / conv output channel) of layer l
      whose outgoing weights in layer l+1 are all (effectively) pruned no longer reaches the
      output, so its incoming weights (its row / filter) are dead: they get no gradient and
      could take any value, including 0, without changing the network's output;
    * **upstream**: a unit with no surviving incoming weights outputs f(b), a constant. If it
      has a bias (or a BatchNorm shift) and ``bias_is_source`` (the default), that constant still
      reaches the output, its outgoing weights still matter and get gradients, so they stay
      alive. With ``bias_is_source=False`` (the path count of Vysogorets & Kempe 2023, which
      ignores biases: a weight is effective only on an input→output path) its outgoing weights
      are dead too. Units without a bias always propagate (f(0) = 0 for ReLU-like activations).

    The two rules are applied alternately until nothing changes. Returns new arrays.
    """
    eff = [np.array(as_bool_array(m), dtype=bool, copy=True, order="C") for m in masks]
    n = len(eff)
    biases = [bool(has_bias)] * n if isinstance(has_bias, bool) else [bool(b) for b in has_bias]
    if len(biases) != n:
        raise ValueError(f"has_bias has {len(biases)} entries for {n} layers")
    for a, b in zip(eff, eff[1:]):
        _unit_view(b, a.shape[0])            # shapes must chain
    changed = True
    while changed:
        changed = False
        for layer in range(n - 2, -1, -1):   # downstream: units with no outgoing weights
            units = eff[layer].shape[0]
            has_out = _unit_view(eff[layer + 1], units).any(axis=(0, 2))
            dead = ~has_out
            if dead.any() and eff[layer][dead].any():
                eff[layer][dead] = False
                changed = True
        for layer in range(n - 1):           # upstream: units with no incoming weights (no bias)
            if bias_is_source and biases[layer]:
                continue
            units = eff[layer].shape[0]
            has_in = eff[layer].reshape(units, -1).any(axis=1)
            view = _unit_view(eff[layer + 1], units)
            dead = ~has_in
            if dead.any() and view[:, dead].any():
                view[:, dead] = False        # a view: writes into eff[layer + 1]
                changed = True
    return eff


# ---- weight stability over rounds ------------------------------------------------------------

def average_stability(records: Iterable[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Paganini & Forde's Fig. 8: per layer, the mean over rounds of mean |w_i − w_{i−1}|.

    ``records`` are the per-round dicts of :func:`pruning_core.analysis.stability.weight_stability`
    (rounds i = 1 … R); ``None`` entries (no weight alive in both rounds) are skipped. This is a
    mean of per-round means (each round weighs the same), as the figure's caption describes.
    """
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for record in records:
        for name, value in record.items():
            sums.setdefault(name, 0.0)
            counts.setdefault(name, 0)
            if value is not None and not (isinstance(value, float) and np.isnan(value)):
                sums[name] += float(value)
                counts[name] += 1
    return {name: (sums[name] / counts[name] if counts[name] else None) for name in sums}
