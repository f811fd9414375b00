"""Paper recipes: named partial configs that reproduce one published setting, one click away.

A :class:`Recipe` is a partial config (the dict shape ``python -m pruning_core run --config``
reads) plus where its values come from (paper and table, or the reference code's file) and what
Prunelab cannot reproduce. The library itself is :mod:`.library`.

* :func:`get_recipe` — a recipe by name (:class:`UnknownRecipe`, listing the names, otherwise)
* :func:`recipe_for` — the recipes of a model on a dataset (the app offers them)
* :func:`dataset_available_offline`, :func:`how_to_get` — whether its dataset is here without a
  download, and how to get it when not

The CLI applies a recipe first, then ``--config``, then ``--set``
(:func:`pruning_core.config.io.load_config`). Torch-free: the app imports it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ..config.fields import ConfigError, FieldError
from ..config.values import flat_values

__all__ = ["RECIPES", "Recipe", "UnknownRecipe", "dataset_available_offline", "get_recipe", "how_to_get",
           "recipe_for"]

OFFLINE_DATASETS = {
    "digits": "scikit-learn's 8x8 digits ship with scikit-learn: always available offline.",
    "fashion_mnist": "Fashion-MNIST is read from /usr/share/datasets/fashion-mnist "
                     "(`apt-get install dataset-fashion-mnist`) or the data dir.",
}
DOWNLOAD_HINTS = {
    "mnist": "MNIST is not available offline: the first run downloads it with torchvision into the data dir "
             "($PRUNELAB_DATA, else cache/data; dataset.download = true). Offline, put the four IDX files "
             "(train-images-idx3-ubyte[.gz] …) into <data dir>/MNIST/raw first.",
    "cifar10": "CIFAR-10 is not available offline: the first run downloads it with torchvision (about 170 MB) "
               "into the data dir ($PRUNELAB_DATA, else cache/data; dataset.download = true). Offline, extract "
               "cifar-10-python.tar.gz there first (<data dir>/cifar-10-batches-py).",
    "cifar100": "CIFAR-100 is not available offline: the first run downloads it with torchvision into the data "
                "dir ($PRUNELAB_DATA, else cache/data). Offline, extract it to <data dir>/cifar-100-python first.",
}


@dataclass(frozen=True)
class Recipe:
    """One published setting as a partial config.

    ``config`` holds only the fields the source fixes (the rest keep Prunelab's defaults); a
    plug-in section it sets names its plug-in (``{"name": "imp", ...}``), so a ``--config`` that
    chooses another one replaces the section instead of mixing options. ``source`` says where
    every value comes from; ``notes`` what differs from the source or is left to the user."""

    name: str
    title: str
    source: str
    config: dict[str, Any]
    notes: str = ""
    tags: tuple[str, ...] = field(default=())

    def partial(self) -> dict[str, Any]:
        """A deep copy of the partial config (safe to modify)."""
        return copy.deepcopy(self.config)

    def fields(self) -> dict[str, Any]:
        """Dotted field -> value of every field the recipe sets (``pruner.score.name`` …)."""
        return flat_values(self.config)

    @property
    def model(self) -> str:
        """The model it uses (Prunelab's default when it sets none)."""
        return self.fields().get("model.name") or _default("model.name")

    @property
    def dataset(self) -> str:
        """The dataset it uses (Prunelab's default when it sets none)."""
        return self.fields().get("dataset.name") or _default("dataset.name")


class UnknownRecipe(ConfigError):
    """A recipe name that is not in the library: ``recipe: got 'x'; allowed: a, b, c``."""

    def __init__(self, name: object):
        allowed = ", ".join(RECIPES)
        super().__init__([FieldError("recipe", name, allowed)])
        self.args = (f"recipe: got {name!r}; allowed: {allowed}",)


def _default(path: str) -> Any:
    from ..config.schema import Config

    return flat_values(Config().to_dict())[path]


def _registry() -> dict[str, Recipe]:
    from .library import LIBRARY

    names = [r.name for r in LIBRARY]
    if len(set(names)) != len(names):
        raise RuntimeError(f"recipe names given twice: {sorted(n for n in names if names.count(n) > 1)}")
    return {r.name: r for r in LIBRARY}


RECIPES: dict[str, Recipe] = _registry()
"""Every recipe by name, in the library's order (the quick start first)."""


def get_recipe(name: str | Recipe) -> Recipe:
    """The recipe called ``name`` (a :class:`Recipe` is returned as is); :class:`UnknownRecipe`
    (a :class:`ConfigError`) listing the allowed names otherwise."""
    if isinstance(name, Recipe):
        return name
    try:
        return RECIPES[name]
    except (KeyError, TypeError):
        raise UnknownRecipe(name) from None


def recipe_for(model: str, dataset: str) -> list[Recipe]:
    """The recipes that use ``model`` on ``dataset``, in library order (empty if none)."""
    return [r for r in RECIPES.values() if (r.model, r.dataset) == (model, dataset)]


def dataset_available_offline(recipe: str | Recipe) -> bool:
    """Whether the recipe's dataset is one of those Prunelab reads without a download
    (scikit-learn's digits, Fashion-MNIST from Debian's dataset package)."""
    return get_recipe(recipe).dataset in OFFLINE_DATASETS


def how_to_get(recipe: str | Recipe) -> str:
    """One sentence on where the recipe's dataset comes from (and how to fetch it if needed)."""
    dataset = get_recipe(recipe).dataset
    return OFFLINE_DATASETS.get(dataset) or DOWNLOAD_HINTS.get(
        dataset, f"{dataset} is read from the data dir or downloaded by torchvision on the first run.")
