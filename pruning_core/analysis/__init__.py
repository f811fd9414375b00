"""Analyses of pruning runs, after the papers Prunelab reproduces.

===================  =====================================================================
module               what (paper)
===================  =====================================================================
``maskmath``         numpy-only mask arithmetic: Jaccard distance, effective chain
``similarity``       Jaccard distance of kept weights, across rounds and between same-seed jobs
                     (Paganini & Forde 2020) — no torch
``dynamics``         potential-mask dynamics D^(i), D̃^(i), L∞, L1-TOP(k) per epoch (AIMP §V-F)
``connectivity``     effective sparsity: weights disconnected by pruning (Paganini App. B)
``stability``        weight stability across rounds (Paganini Fig. 8), stability to pruning
                     (Frankle et al. 2019; IAP Fig. 6)
``ensemble``         accuracy of mean-softmax ensembles of sub-networks (Paganini Table 2)
``compression``      compression ratio and FLOPs speed-up at 0 % / 1 % accuracy drop (IAP
                     Table 2, Fig. 5) — no torch
``cli``              ``python -m pruning_core analyze ...``
===================  =====================================================================

Names are imported lazily (``from pruning_core.analysis import jaccard_distance`` loads only
``maskmath``), so the torch-free parts stay usable in the app's process.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "jaccard_distance": "maskmath", "jaccard_per_layer": "maskmath",
    "effective_chain": "maskmath", "average_stability": "maskmath", "MODEL_KEY": "maskmath",
    "jaccard_across_rounds": "similarity", "jaccard_between_jobs": "similarity",
    "jaccard_between_jobs_all_rounds": "similarity", "SeedMismatch": "similarity",
    "MaskDynamics": "dynamics", "dynamics_hook": "dynamics", "l1_top_k": "dynamics", "linf_norm": "dynamics",
    "effective_masks": "connectivity", "effective_sparsity": "connectivity", "effective_report": "connectivity",
    "UnsupportedArchitecture": "connectivity", "round_effective_fields": "connectivity",
    "weight_stability": "stability", "stability_to_pruning": "stability", "round_stability_fields": "stability",
    "ensemble_accuracy": "ensemble", "load_member": "ensemble", "ensemble_jobs": "ensemble",
    "compression_at_drop": "compression", "compression_table": "compression",
    "add_analysis_commands": "cli",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
