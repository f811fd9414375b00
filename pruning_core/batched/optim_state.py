"""Optimizer state between N per-copy optimizers and one optimizer over stacked parameters.

A round that keeps its optimizer (``RoundPlan.optimizer == "shared"``: gradual pruning) saves
each repeat's optimizer state with the round and restores it on resume. The batched trainer
keeps one optimizer over the stacked parameters instead; these two functions convert:

* a per-copy state entry shaped like the copy's parameter (momentum buffer, ``exp_avg``,
  ``exp_avg_sq``, ``max_exp_avg_sq``) ↔ one stacked entry [N, ...];
* a scalar entry (``step``, NAdam's ``mu_product``) is the same for copies that stepped in
  lockstep: it is kept once (stacking copies whose scalars differ is refused).

Both work on ``state_dict()`` form, so parameter order is the module's ``parameters()`` order,
which is also the stacked model's order.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .checks import NotBatchable


def stack_optimizer_state(stacked: torch.optim.Optimizer, states: Sequence[dict]) -> None:
    """Load per-copy optimizer ``state_dict()``s (copy order) into ``stacked``, an optimizer of
    the same class over the stacked parameters."""
    params = [p for group in stacked.param_groups for p in group["params"]]
    merged: dict[int, dict] = {}
    for index, p in enumerate(params):
        entries = [s["state"].get(index) for s in states]
        if all(e is None for e in entries):
            continue
        if any(e is None for e in entries):
            raise NotBatchable(f"optimizer state: parameter {index} has state in some copies only")
        out = {}
        for key in entries[0]:
            values = [e[key] for e in entries]
            if isinstance(values[0], torch.Tensor) and tuple(values[0].shape) == tuple(p.shape[1:]) \
                    and values[0].dim() > 0:
                out[key] = torch.stack([v.to(p.device) for v in values])
            elif isinstance(values[0], torch.Tensor):
                if not all(torch.equal(v.cpu(), values[0].cpu()) for v in values[1:]):
                    raise NotBatchable(f"optimizer state: {key!r} of parameter {index} differs between copies "
                                       "(they did not step in lockstep)")
                out[key] = values[0].clone()
            else:
                if any(v != values[0] for v in values[1:]):
                    raise NotBatchable(f"optimizer state: {key!r} of parameter {index} differs between copies")
                out[key] = values[0]
        merged[index] = out
    stacked.load_state_dict({"state": merged, "param_groups": states[0]["param_groups"]})


def unstack_optimizer_state(stacked: torch.optim.Optimizer, i: int) -> dict:
    """Copy i's optimizer ``state_dict()``, as its own optimizer over its module would hold it."""
    full = stacked.state_dict()
    params = [p for group in stacked.param_groups for p in group["params"]]
    state = {}
    for index, entry in full["state"].items():
        p = params[index]
        state[index] = {key: (v[i].clone() if isinstance(v, torch.Tensor) and v.dim() > 0
                              and tuple(v.shape) == tuple(p.shape) else
                              (v.clone() if isinstance(v, torch.Tensor) else v))
                        for key, v in entry.items()}
    return {"state": state, "param_groups": full["param_groups"]}
