"""Pruners: a score per weight plus a selection rule that turns scores into a new mask.

Every pruner here keeps already-pruned weights pruned (no regrowth) and removes a fraction
p of the weights that are still alive.
"""

from .unstructured import prune_count, prune_unstructured, score_weights

__all__ = ["prune_count", "prune_unstructured", "score_weights"]
