"""Pruning algorithms: each runs one repeat of an experiment and emits the same events."""

from .base import Progress, RunContext
from .imp import run_imp

ALGORITHMS = {"imp": run_imp, "one_shot": run_imp, "bimp": run_imp}

__all__ = ["ALGORITHMS", "Progress", "RunContext", "run_imp"]
