"""Prunelab's engine: iterative pruning experiments from a validated config to stored events.

The notebook API::

    import pruning_core as pc
    config = pc.load_config(overrides=["dataset.name=fashion_mnist", "algorithm.rounds=5"])
    result = pc.run(config, on_event=print)
    result.rounds          # DataFrame: one row per round (round 0 = dense)
    result.epochs          # DataFrame: one row per epoch
    result.masks(-1)       # {layer: bool tensor} after the last round
    table = pc.sweep(config, {"pruner.score": ["magnitude", "random"], "seed": [0, 1, 2]})
                           # DataFrame: one row per job × round, the axis values as columns

This package never imports streamlit; the app reads what runs write into the job store.
"""

from .config import Config, ConfigError, FieldError, defaults, load_config

__all__ = ["Config", "ConfigError", "FieldError", "defaults", "load_config", "run", "load_result",
           "export_result", "RunResult", "sweep"]


def __getattr__(name):  # torch-heavy parts load on first use, so `import pruning_core` stays light
    if name in ("run", "load_result", "RunResult"):
        from . import runner
        return getattr(runner, name)
    if name == "sweep":
        from .sweeps.execute import sweep
        return sweep
    if name == "export_result":
        from .export import export_result
        return export_result
    raise AttributeError(name)
