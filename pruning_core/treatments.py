"""Weight treatments after pruning (registered): where the surviving weights restart from.

A treatment is a function ``treatment(run) -> state dict | None`` of the repeat being run (see
:class:`pruning_core.loop.RepeatRun`: ``saved_state(name)``, ``fresh_state()``,
``prunable_names``); None keeps the trained weights. The loop loads the state and multiplies the
masks in, so pruned weights are zero whatever a treatment returns.

* ``rewind``: θ_k, the full state after k epochs of the dense training (k = 0: the lottery
  ticket's θ₀)
* ``keep``: the trained weights (learning-rate rewinding, fine-tuning)
* ``sigma_sign``: w ← σ_L · sign(w₀) per layer L (Zhou et al. 2019; Paganini & Forde App. A.1), σ_L
  the population standard deviation ``std(unbiased=False)`` of layer L's weights at
  initialisation, over every entry (σ describes the distribution the layer was drawn from)
* ``sign``: w ← sign(w₀) (the paper's failing control: no σ)
* ``random``: a fresh initialisation of the same architecture (one per repeat)

The reinitialisations replace the prunable weights only; every other tensor (biases, batch norm)
restarts from θ_k, as under rewinding. This module uses tensor methods only (no torch import).
"""

from __future__ import annotations

from typing import Callable

from .registry import TREATMENTS


def treatment(name: str, *, uses_rewind_point: bool = True) -> Callable:
    """Register a treatment; ``uses_rewind_point``: it reads θ_k (so the rewind epoch k acts)."""
    def wrap(fn: Callable) -> Callable:
        fn.uses_rewind_point = uses_rewind_point
        return TREATMENTS.register(name, fn)
    return wrap


@treatment("rewind")
def rewind(run):
    """Rewind to θ_k, the state after k epochs of the dense training (weight rewinding)."""
    return run.saved_state("rewind")


@treatment("keep", uses_rewind_point=False)
def keep(run):
    """Keep the trained weights (learning-rate rewinding, fine-tuning)."""
    return None


def _sign_state(run, scale_by_sigma: bool):
    state = dict(run.saved_state("rewind"))
    init = run.saved_state("init")
    for name in run.prunable_names:
        w0 = init[name]
        sigma = w0.float().std(unbiased=False) if scale_by_sigma else 1.0
        state[name] = (w0.sign() * sigma).to(w0.dtype)
    return state


@treatment("sigma_sign")
def sigma_sign(run):
    """Restart from σ·sign(w₀), σ the layer's standard deviation at initialisation (Zhou et al. 2019)."""
    return _sign_state(run, scale_by_sigma=True)


@treatment("sign")
def sign(run):
    """Restart from sign(w₀) without σ (the failing control of Zhou et al.)."""
    return _sign_state(run, scale_by_sigma=False)


@treatment("random")
def random(run):
    """Restart from a fresh random initialisation of the same architecture."""
    state = dict(run.saved_state("rewind"))
    fresh = run.fresh_state()
    for name in run.prunable_names:
        state[name] = fresh[name].to(state[name].device)
    return state
