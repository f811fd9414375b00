"""Which layers a config's pruner can remove something from, on a built-in model (torch-free).

A pruner acts on three kinds of layer: convs, hidden linear layers, and the output layer (the
last linear layer, whose neurons are the classes). What it reaches depends on the model (which
kinds it has), ``pruner.layers`` (all, linear, conv), the unit (``output_filter`` never removes
a class) and the rates (``conv_rate`` / ``dense_rate`` / ``output_rate`` = 0 leave their kind
alone). :func:`pruned_kinds` says which kinds get a nonzero rate, so that a config that would
prune nothing is refused before it trains for nothing. A test holds :data:`OUTPUT_ONLY_LINEAR`
(and :data:`~pruning_core.catalog.CONV_FREE`) to the torch models.
"""

from __future__ import annotations

from ..catalog import CONV_FREE

# Built-in models whose only linear layer is the output layer (global pool, then one FC layer).
OUTPUT_ONLY_LINEAR = frozenset({"vgg11", "vgg13", "vgg16", "vgg19", "resnet20", "resnet56", "resnet18"})
# Built-in models with convs and hidden linear layers (three FC layers).
WITH_HIDDEN_LINEAR = frozenset({"lenet300_100", "lenet5", "conv2", "conv4", "conv6"})
BUILTIN_MODELS = OUTPUT_ONLY_LINEAR | WITH_HIDDEN_LINEAR


def reach(config) -> dict[str, str] | None:
    """{kind: why the pruner leaves it alone} for each of "conv", "linear" (the hidden linear
    layers) and "output"; "" where the pruner removes something from that kind. None for a model
    a plug-in registers (its layers are not known without building it)."""
    model, pr = config.model.name, config.pruner
    if model not in BUILTIN_MODELS:
        return None
    fraction = pr.selection.plugin_name == "fraction"
    per_kind = fraction and pr.grouping in ("local", "per_type")

    def zero(name: str, value: float | None) -> str:
        """Why a kind's rate leaves it alone ("" if it does not): the rate replaces the
        algorithm's p (always > 0) where it acts, and 0 prunes nothing."""
        return f"{name} is 0" if per_kind and value == 0 else ""

    conv = (f"pruner.layers is {pr.layers}" if pr.layers == "linear" else
            f"{model} has no conv layer" if model in CONV_FREE else zero("pruner.conv_rate", pr.conv_rate))
    linear = (f"pruner.layers is {pr.layers}" if pr.layers == "conv" else
              f"{model}'s only linear layer is the output layer" if model in OUTPUT_ONLY_LINEAR else
              zero("pruner.dense_rate", pr.dense_rate))
    if pr.layers == "conv":
        output = f"pruner.layers is {pr.layers}"
    elif pr.unit == "output_filter":
        output = "output_filter never removes the output layer's neurons (the classes)"
    elif fraction and pr.output_rate is not None:
        output = "pruner.output_rate is 0" if pr.output_rate == 0 else ""
    else:
        output = zero("pruner.dense_rate", pr.dense_rate)
    return {"conv": conv, "linear": linear, "output": output}


def pruned_kinds(config) -> list[str] | None:
    """The kinds of layer the pruner removes something from (see :func:`reach`)."""
    kinds = reach(config)
    return None if kinds is None else [kind for kind, why in kinds.items() if not why]
