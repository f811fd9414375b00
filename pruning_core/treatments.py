"""Weight treatments after pruning: where the surviving weights restart from.

* ``rewind`` to θ_k (the state after k epochs; k = 0 is the lottery ticket's θ₀)
* ``sigma_sign``: w ← σ_L · sign(w₀) per layer L (Zhou et al. 2019; Paganini & Forde App. A.1),
  σ_L the empirical standard deviation of layer L's weights at initialisation — the population
  estimator ``std(unbiased=False)`` over every entry of the layer, pruned or not, since σ
  describes the initial distribution the layer was drawn from
* ``sign``: w ← sign(w₀) (the paper's failing control: no σ rescaling)
* ``random``: a fresh initialisation of the same architecture (seeded by the round)

Only prunable weights are reinitialised this way; every other tensor (biases, batch norm)
restarts from θ_k, as under plain rewinding. The caller multiplies by the mask afterwards.
"""

from __future__ import annotations

from typing import Callable

import torch


def restart_state(treatment: str, rewind_state: dict[str, torch.Tensor], init_state: dict[str, torch.Tensor],
                  prunable: list[str], fresh_init: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The state dict a round restarts from under ``treatment`` (none, sigma_sign, sign, random)."""
    if treatment == "none":
        return rewind_state
    state = dict(rewind_state)
    if treatment == "random":
        fresh = fresh_init()
        for name in prunable:
            state[name] = fresh[name].to(rewind_state[name].device)
        return state
    for name in prunable:
        w0 = init_state[name]
        sigma = w0.float().std(unbiased=False) if treatment == "sigma_sign" else 1.0
        state[name] = (torch.sign(w0) * sigma).to(w0.dtype)
    if treatment not in ("sigma_sign", "sign"):
        raise ValueError(f"algorithm.reinit: got {treatment!r}; allowed: none, sigma_sign, sign, random")
    return state
