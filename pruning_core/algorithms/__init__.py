"""Pruning algorithms: each runs one repeat of an experiment and emits the same events."""

from .base import Progress, RunContext
from .gradual import run_gradual
from .imp import run_imp

ALGORITHMS = {"imp": run_imp, "one_shot": run_imp, "bimp": run_imp, "asni": run_gradual, "gradual": run_gradual}

__all__ = ["ALGORITHMS", "Progress", "RunContext", "run_imp"]
