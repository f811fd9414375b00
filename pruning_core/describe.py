"""What a config will build, before it runs: parameters, prunable layers, FLOPs and the plan."""

from __future__ import annotations

import torch

from .config import Config
from .data import DATASETS
from .masks import output_layer_name, prunable_parameters
from .metrics import flop_table
from .models import ModelDatasetMismatch, build_model


def describe(config: Config) -> dict:
    """JSON-ready facts: parameter counts, layer shapes, dense FLOPs, and the plan (every round's
    epochs and planned sparsity, the search cost); ``error`` says why a model/dataset pair does
    not fit (the model facts are then absent)."""
    spec = DATASETS[config.dataset.name]
    plan = config.plan()
    facts = {"dataset": {"name": spec.name, "in_channels": spec.in_channels, "num_classes": spec.num_classes,
                         "input_size": list(spec.input_size), "n_train": spec.n_train, "n_test": spec.n_test},
             "plan": plan.headline,
             "rounds": [{"round": r.index, "epochs": r.epochs, "sparsity": r.sparsity, "variant": r.variant}
                        for r in plan.rounds],
             "planned_sparsity": plan.sparsity(), "search_cost_epochs": plan.search_cost(),
             "total_epochs": plan.total_epochs(), "per_round_rate": plan.rate,
             "steps_per_epoch": -(-spec.n_train // config.training.batch_size), "error": None}
    try:
        torch.manual_seed(config.seed)
        model = build_model(config.model.name, in_channels=spec.in_channels, num_classes=spec.num_classes,
                            input_size=spec.input_size)
    except ModelDatasetMismatch as exc:
        facts["error"] = str(exc)
        return facts
    prunable = prunable_parameters(model)
    flops = flop_table(model, (spec.in_channels, *spec.input_size))
    facts.update(
        n_params=sum(p.numel() for p in model.parameters()),
        n_prunable=sum(p.numel() for p in prunable.values()),
        output_layer=output_layer_name(model),
        layers=[{"name": n, "shape": list(p.shape), "numel": p.numel(), "flops": flops.per_weight[n]}
                for n, p in prunable.items()],
        dense_flops=flops.total)
    return facts
