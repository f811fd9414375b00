"""Compaction: the smaller dense model equals the masked one, with hand-counted parameters."""

import pytest
import torch
from torch import nn
from torch.func import functional_call

from pruning_core.compaction import SelectInputs, compact, compaction_report, measure_latency
from pruning_core.config import Config
from pruning_core.masks import full_masks, prunable_parameters
from pruning_core.models import build_model
from pruning_core.plan import PruneStep
from pruning_core.pruners.pruner import make_pruner


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def masked_output(model, masks, x):
    params = dict(model.named_parameters())
    model.eval()
    with torch.no_grad():
        return functional_call(model, {n: params[n] * m for n, m in masks.items()}, (x,))


def assert_same_outputs(model, masks, x):
    small = compact(model, masks).eval()
    with torch.no_grad():
        diff = (masked_output(model, masks, x) - small(x)).abs().max()
    assert diff < 1e-5
    return small


def _randomise_batch_norm(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-1, 1)
    return model


def _conv_bn_net():
    # 10x10 -> conv1 (1->4, 3x3) 8x8 -> pool 4x4 -> conv2 (4->3, 3x3) 2x2 -> flatten 12 -> 5 -> 2
    torch.manual_seed(0)
    return _randomise_batch_norm(nn.Sequential(
        nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 3, 3, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
        nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 2)))


def test_removed_filters_take_their_batch_norm_and_next_inputs_along():
    model = _conv_bn_net()
    masks = full_masks(prunable_parameters(model))
    masks["0.weight"][1] = False                   # conv1 filter 1 ...
    masks["4.weight"][:, 1] = False                # ... and conv2's input channel 1
    masks["4.weight"][2] = False                   # conv2 filter 2 ...
    masks["8.weight"][:, 8:12] = False             # ... and its 2x2 = 4 features of the linear layer
    masks["8.weight"][4] = False                   # hidden neuron 4 ...
    masks["10.weight"][:, 4] = False               # ... and the output layer's input 4
    small = assert_same_outputs(model, masks, torch.randn(6, 1, 10, 10))
    # dense: 36 + 8 + 108 + 6 + (60 + 5) + (10 + 2) = 235
    # compacted: conv1 3·9 = 27, BN 3·2 = 6, conv2 2·3·9 = 54, BN 2·2 = 4, linear 4·8 + 4 = 36, out 2·4 + 2 = 10
    assert n_params(model) == 235 and n_params(small) == 27 + 6 + 54 + 4 + 36 + 10
    assert [m.num_features for m in small if isinstance(m, nn.BatchNorm2d)] == [3, 2]


def test_dead_input_channels_shrink_the_previous_layer_and_the_input():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    masks = full_masks(prunable_parameters(model))
    masks["0.weight"][:, [1, 3]] = False           # input features 1, 3: dropped by an index-select
    masks["2.weight"][:, 2] = False                # input 2 of layer 2: neuron 2 of layer 0 is unread
    masks["2.weight"][0, 0] = False                # a single weight: kept as a zero
    small = assert_same_outputs(model, masks, torch.randn(5, 6))
    assert isinstance(small[0], SelectInputs) and small[0].index.tolist() == [0, 2, 4, 5]
    # 3·4 + 3 = 15, then 3·3 + 3 = 12, then 2·3 + 2 = 8
    assert n_params(small) == 15 + 12 + 8 and small[3].weight[0, 0] == 0


def test_a_dead_filter_that_is_still_read_is_kept_exactly():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].bias.fill_(0.7)                   # neuron 0 outputs the constant ReLU(0.7)
    masks = full_masks(prunable_parameters(model))
    masks["0.weight"][0] = False
    small = assert_same_outputs(model, masks, torch.randn(4, 3))
    assert n_params(small) == n_params(model)


@pytest.mark.parametrize("unit", ["output_filter", "input_channel", "hybrid"])
def test_pruned_lenet5_and_vgg11_compact_exactly(unit):
    for name, shape, dataset in (("lenet5", (1, 28, 28), "fashion_mnist"), ("vgg11", (3, 16, 16), "cifar10")):
        torch.manual_seed(0)
        model = _randomise_batch_norm(build_model(name, in_channels=shape[0], num_classes=10, input_size=shape[1:]))
        config = Config.from_dict({"model": {"name": name}, "dataset": {"name": dataset},
                                   "pruner": {"unit": unit, "grouping": "local"}})
        pruner, masks = make_pruner(config, model), full_masks(prunable_parameters(model))
        for r in (1, 2):
            masks = pruner.prune(masks, PruneStep.fraction(0.3), r, torch.Generator().manual_seed(r))
        small = assert_same_outputs(model, masks, torch.randn(2, *shape))
        if unit != "hybrid":
            assert n_params(small) < 0.6 * n_params(model)


def test_lenet5_filter_counts_by_hand():
    model = build_model("lenet5", in_channels=1, num_classes=10, input_size=(28, 28))
    masks = full_masks(prunable_parameters(model))
    masks["features.0.weight"][:2] = False         # 2 of 6 conv1 filters
    masks["features.3.weight"][:, :2] = False
    masks["features.3.weight"][:4] = False         # 4 of 16 conv2 filters -> 4·25 features of fc1
    masks["classifier.0.weight"][:, :100] = False
    small = assert_same_outputs(model, masks, torch.randn(2, 1, 28, 28))
    # conv1 4·9 + 4 = 40; conv2 12·4·9 + 12 = 444; fc1 120·300 + 120 = 36,120; fc2 10,164; out 850
    assert n_params(small) == 40 + 444 + 36_120 + 10_164 + 850


def test_report_measures_both_latencies_in_one_call():
    model = _conv_bn_net()
    masks = full_masks(prunable_parameters(model))
    masks["0.weight"][:2] = False
    masks["4.weight"][:, :2] = False
    report = compaction_report(model, masks, (1, 10, 10), batch_size=8, repeats=3)
    assert report["params_dense"] == 235 and report["params_compacted"] < 235
    assert report["speedup"] == pytest.approx(report["latency_dense_s"] / report["latency_compacted_s"])
    assert report["max_abs_diff"] < 1e-5 and report["flops_compacted"] < report["flops_dense"]
    assert measure_latency(model, (1, 10, 10), batch_size=2, repeats=2) > 0 and model.training


def test_resnets_are_refused():
    model = build_model("resnet20", in_channels=3, num_classes=10, input_size=(32, 32))
    with pytest.raises(ValueError, match="sequential"):
        compact(model, full_masks(prunable_parameters(model)))
