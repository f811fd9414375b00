"""The optimizer's step alone, timed: the engine's class (``make_optimizer``) against torch's own.

Used by ``bench_floor.py`` (CPU time per step, to split an epoch into its parts) and
``gpu_check.py`` (the ``nadam_step`` figure, wall time with the device synchronised).
"""

from __future__ import annotations

import copy
import statistics
import time

import torch


def stock_optimizer(cfg, params):
    """torch's own class for the configured optimizer, with foreach kernels (what a hand-written
    loop gets from ``torch.optim``)."""
    if cfg.optimizer == "nadam":
        return torch.optim.NAdam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                           weight_decay=cfg.weight_decay, foreach=True)


def optimizer_step_seconds(model, make, repeats=300) -> float:
    """Seconds of one ``make(params).step()`` on a copy of ``model``'s parameters, with fixed random
    gradients laid out as the parameters; median of 5 blocks of ``repeats`` steps after 20 untimed
    ones. On the CPU the process's CPU time (less sensitive to a shared machine); on a GPU the
    wall time with the device synchronised around each block."""
    model = copy.deepcopy(model)
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(1)
    for p in model.parameters():
        p.grad = torch.empty_like(p).copy_(torch.randn(p.shape, generator=g)) * 1e-2
    optimizer = make(list(model.parameters()))
    for _ in range(20):
        optimizer.step()
    on_cuda = device.type == "cuda"
    clock = time.perf_counter if on_cuda else time.process_time
    blocks = []
    for _ in range(5):
        if on_cuda:
            torch.cuda.synchronize(device)
        start = clock()
        for _ in range(repeats):
            optimizer.step()
        if on_cuda:
            torch.cuda.synchronize(device)
        blocks.append((clock() - start) / repeats)
    return statistics.median(blocks)
