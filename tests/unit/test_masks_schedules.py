"""Masks (counting, bit-packed files, enforcement) and LR schedules (exact values)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from pruning_core.config import TrainingConfig
from pruning_core.maskfile import write_masks_numpy
from pruning_core.masks import (MaskEnforcer, count_alive, layer_sparsity, load_masks, load_masks_numpy,
                                output_layer_name, prunable_parameters)
from pruning_core.rundir import RepeatDir
from pruning_core.schedules import LRSchedule, geometric_sparsity


def test_prunable_parameters_are_conv_and_linear_weights_only():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3), nn.Linear(3, 2))
    assert list(prunable_parameters(model)) == ["0.weight", "3.weight", "4.weight"]
    assert output_layer_name(model) == "4.weight"


def test_counts_and_sparsity():
    masks = {"a": torch.tensor([True, False, False, True]), "b": torch.tensor([[True], [True]])}
    assert count_alive(masks) == (4, 6)
    assert layer_sparsity(masks) == {"a": 0.5, "b": 0.0}


def test_masks_round_trip_bit_packed(tmp_path):
    gen = torch.Generator().manual_seed(0)
    masks = {"conv.weight": torch.rand(3, 2, 3, 3, generator=gen) > 0.5, "fc.weight": torch.rand(7, 5, generator=gen) > 0.3}
    path = tmp_path / "m.npz"
    write_masks_numpy({k: m.numpy() for k, m in masks.items()}, path)
    back = load_masks(path)
    assert list(back) == list(masks) and all(torch.equal(back[k], masks[k]) for k in masks)
    saved = RepeatDir(tmp_path / "repeat_0").save_masks(3, masks)      # torch masks, through the run folder
    assert saved == tmp_path / "repeat_0" / "masks" / "round_003.npz"
    back = load_masks(saved)
    assert list(back) == list(masks) and all(torch.equal(back[k], masks[k]) for k in masks)
    as_numpy = load_masks_numpy(path)
    assert as_numpy["fc.weight"].dtype == np.bool_ and as_numpy["fc.weight"].shape == (7, 5)
    with np.load(path) as data:      # 1 bit per weight: 54 bits -> 7 bytes, 35 -> 5 bytes
        assert data["m0"].size == 7 and data["m1"].size == 5


def test_enforcer_zeroes_pruned_weights():
    layer = nn.Linear(3, 2, bias=False)
    mask = torch.tensor([[True, False, True], [False, True, True]])
    enforcer = MaskEnforcer({"w": layer.weight}, {"w": mask})
    enforcer.mask_weights()
    assert (layer.weight[~mask] == 0).all() and (layer.weight[mask] != 0).all()


def test_clipping_measures_the_live_gradients_only():
    w = nn.Parameter(torch.zeros(2, 2))
    b = nn.Parameter(torch.zeros(2))
    mask = torch.tensor([[True, False], [True, True]])
    w.grad = torch.tensor([[3.0, 100.0], [0.0, 0.0]])     # the pruned entry's 100 must not count
    b.grad = torch.tensor([4.0, 0.0])
    enforcer = MaskEnforcer({"w": w}, {"w": mask})
    total = enforcer.clip_grad_norm([w, b], max_norm=1.0)
    assert float(total) == pytest.approx(5.0)               # sqrt(3² + 4²)
    scale = 1.0 / (5.0 + 1e-6)
    assert w.grad.flatten().tolist() == pytest.approx([3 * scale, 100 * scale, 0, 0])
    assert b.grad.tolist() == pytest.approx([4 * scale, 0])
    w.grad, b.grad = torch.tensor([[0.3, 9.0], [0.0, 0.0]]), torch.tensor([0.4, 0.0])
    enforcer.clip_grad_norm([w, b], max_norm=1.0)          # live norm 0.5 < 1: unchanged
    assert w.grad[0, 0].item() == pytest.approx(0.3) and b.grad[0].item() == pytest.approx(0.4)


def test_step_schedule_per_iteration():
    s = LRSchedule(TrainingConfig(epochs=6, lr=0.1, lr_schedule="step", milestones=[2, 4], gamma=0.1))
    assert [s(t) for t in (0, 1.99, 2, 3.5, 4, 5.9)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert s.last_lr(steps_per_epoch=10) == pytest.approx(0.001)


def test_cosine_linear_and_warmup_exact_values():
    cos = LRSchedule(TrainingConfig(epochs=4, lr=0.2, lr_schedule="cosine"))
    assert [cos(t) for t in (0, 1, 2, 4)] == pytest.approx([0.2, 0.1 * (1 + math.cos(math.pi / 4)), 0.1, 0.0])
    lin = LRSchedule(TrainingConfig(epochs=4, lr=0.2, lr_schedule="linear"))
    assert [lin(t) for t in (0, 1, 3)] == pytest.approx([0.2, 0.15, 0.05])
    assert lin.last_lr(steps_per_epoch=4) == pytest.approx(0.2 * (1 - 3.75 / 4))
    warm = LRSchedule(TrainingConfig(epochs=4, lr=0.2, warmup_epochs=1))
    # iteration i of n = 4 in epoch 0: factor (i/4 + 1/4) / 1
    assert [warm(i / 4, 4) for i in range(4)] + [warm(1.0, 4)] == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.2])


def test_geometric_sparsity():
    assert geometric_sparsity(0.2, 3) == pytest.approx([0, 0.2, 0.36, 0.488])
