"""Pruning algorithms: each a registered class that owns its options, its plan and its round hooks.

Importing this package registers the built-ins, in the order the form lists them: ``imp`` (IMP
with any weight treatment and retraining LR policy; AIMP with τ), ``one_shot``, ``bimp``,
``at_init`` (prune at initialisation), ``gradual`` (one run on a sparsity schedule) and ``asni``
(the sigmoid schedule followed by ASNI-II).
"""

from . import imp  # noqa: F401  (registration, in this order)
from . import one_shot  # noqa: F401
from . import bimp  # noqa: F401
from . import at_init  # noqa: F401
from . import gradual  # noqa: F401
from . import asni  # noqa: F401
from .base import Algorithm

__all__ = ["Algorithm"]
