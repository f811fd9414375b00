"""Analyses on tiny networks, with hand-computed numbers: effective sparsity, weight stability,
stability to pruning, ensemble accuracy."""

import warnings

import pytest
import torch
from torch import nn

from pruning_core.analysis.connectivity import (UnsupportedArchitecture, chain_layers, effective_masks,
                                                effective_report, effective_sparsity, round_effective_fields)
from pruning_core.analysis.ensemble import ensemble_accuracy
from pruning_core.analysis.stability import round_stability_fields, stability_to_pruning, weight_stability
from pruning_core.data import DatasetSpec, DeviceDataset
from pruning_core.masks import full_masks, prunable_parameters
from pruning_core.models import CifarResNet, FeatureClassifierNet, build_model


def dense(model):
    return full_masks(prunable_parameters(model))


def pruned_count(masks):
    return sum(int((~m).sum()) for m in masks.values())


# ---- effective sparsity ---------------------------------------------------------------------

def test_hidden_unit_without_outgoing_weights_kills_its_incoming_weights():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))        # 12 + 8 = 20 weights
    masks = dense(model)
    masks["2.weight"][:, 1] = False                      # hidden unit 1 reaches no output
    eff = effective_masks(model, masks)
    assert pruned_count(masks) == 2 and pruned_count(eff) == 5                 # + its 3 incoming
    assert not eff["0.weight"][1].any() and eff["0.weight"][[0, 2, 3]].all()
    assert effective_sparsity(model, masks) == 5 / 20
    assert masks["0.weight"].all()                       # the input masks are not modified


def test_unit_without_incoming_weights_depends_on_its_bias():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    masks = dense(model)
    masks["0.weight"][2] = False                         # hidden unit 2 has no inputs: emits relu(b)
    assert pruned_count(effective_masks(model, masks)) == 3                    # bias: outgoing alive
    assert pruned_count(effective_masks(model, masks, bias_is_source=False)) == 5   # path count: +2
    no_bias = nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(), nn.Linear(4, 2, bias=False))
    assert pruned_count(effective_masks(no_bias, masks)) == 5


def test_disconnection_propagates_through_several_layers():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    masks = dense(model)                                 # 4 + 4 + 2 = 10 weights
    masks["4.weight"][0, 0] = False                      # h2 unit 0 → output cut: W2 row 0 dead
    masks["2.weight"][1, 0] = False                      # h1 unit 0 then has no outgoing: W1 row 0 dead
    eff = effective_masks(model, masks)
    assert eff["4.weight"].tolist() == [[False, True]]
    assert eff["2.weight"].tolist() == [[False, False], [False, True]]
    assert eff["0.weight"].tolist() == [[False, False], [True, True]]
    assert effective_sparsity(model, masks) == 6 / 10


def conv_linear():
    # 1x4x4 input → conv 3x3 pad 1 (2 filters, 18 weights) → ReLU → pool 2
    # → flatten 2·2·2 = 8 → Linear(8, 3)
    features = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    return FeatureClassifierNet(features, nn.Sequential(nn.Linear(8, 3)))


def test_conv_channel_owns_its_flattened_features():
    model = conv_linear()
    assert chain_layers(model) == (["features.0.weight", "classifier.0.weight"], [True, True])
    masks = dense(model)                                 # 18 + 24 = 42 weights
    masks["classifier.0.weight"][:, 4:8] = False          # every feature of channel 1 (12 weights)
    eff = effective_masks(model, masks)
    assert not eff["features.0.weight"][1].any() and eff["features.0.weight"][0].all()
    assert pruned_count(eff) == 12 + 9 and effective_sparsity(model, masks) == 21 / 42
    masks = dense(model)
    masks["classifier.0.weight"][:, 4:7] = False          # one feature of channel 1 still used
    assert pruned_count(effective_masks(model, masks)) == 9


def test_effective_sparsity_of_lenet5_exact():
    model = build_model("lenet5", in_channels=1, num_classes=10, input_size=(28, 28))
    masks = dense(model)                 # conv 54 + 864, fc 48000 + 10080 + 840 = 59,838 weights
    masks["classifier.0.weight"][:, 3 * 25:4 * 25] = False    # conv2 channel 3's 5·5 features: 3000
    masks["features.3.weight"][:, 0] = False                 # conv1 channel 0 feeds nothing: 144
    report = effective_report(model, masks)
    # conv2 filter 3 dies (54, 9 already pruned: +45), conv1 filter 0 dies (+9)
    assert report["supported"] and report["total"] == 59_838
    assert report["explicit_alive"] == 59_838 - 3144 and report["effective_alive"] == 59_838 - 3198
    assert report["effective_sparsity"] == pytest.approx(3198 / 59_838)
    assert report["layers"]["features.0.weight"] == pytest.approx(
        {"explicit_sparsity": 0.0, "effective_sparsity": 9 / 54})


def test_vgg_batch_norm_counts_as_a_bias():
    model = build_model("vgg11", in_channels=3, num_classes=10, input_size=(32, 32))
    names, biases = chain_layers(model)
    assert len(names) == 9 and all(biases)               # convs have no bias but a BatchNorm shift


def test_resnet_is_returned_unchanged_and_flagged():
    model = CifarResNet(1, 3, 10)
    masks = dense(model)
    first = next(iter(masks))
    masks[first][0] = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        eff = effective_masks(model, masks)
    assert caught and all(torch.equal(eff[n], masks[n]) for n in masks)
    report = effective_report(model, masks)
    assert not report["supported"] and "residual" in report["reason"]
    assert report["effective_sparsity"] == report["explicit_sparsity"]
    with pytest.raises(UnsupportedArchitecture):
        effective_masks(model, masks, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # the round-event helper stays silent
        assert round_effective_fields(model, masks) == {"effective_sparsity": None}
    mlp = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    mlp_masks = dense(mlp)
    mlp_masks["2.weight"][:, 1] = False
    assert round_effective_fields(mlp, mlp_masks) == {"effective_sparsity": 5 / 20}


# ---- weight stability and stability to pruning ------------------------------------------------

def states():
    prev = {"a": torch.tensor([1.0, 2.0, 0.0, 4.0]), "b": torch.tensor([2.0, -2.0]), "bias": torch.tensor([9.0])}
    cur = {"a": torch.tensor([1.5, 1.0, 0.0, 4.0]), "b": torch.tensor([0.0, 0.0]), "bias": torch.tensor([0.0])}
    masks = {"a": torch.tensor([True, True, False, True]), "b": torch.tensor([False, True])}
    return prev, cur, masks


def test_weight_stability_over_weights_alive_in_both_rounds():
    prev, cur, masks = states()
    out = weight_stability(prev, cur, masks)
    # a: |.5|, |−1|, |0| over 3 → 0.5; b: |0 − (−2)| = 2; model: 3.5 / 4
    assert out == {"a": pytest.approx(0.5), "b": pytest.approx(2.0), "__model__": pytest.approx(0.875)}
    prev_masks = {"a": torch.tensor([False, True, False, True]), "b": torch.tensor([True, True])}
    assert weight_stability(prev, cur, masks, prev_masks=prev_masks)["a"] == pytest.approx(0.5)   # (1 + 0) / 2
    assert weight_stability(prev, cur, {"b": torch.tensor([False, False])}) == {"b": None, "__model__": None}


def test_stability_to_pruning_is_the_l2_distance_of_surviving_weights():
    masked = {"a": torch.tensor([1.5, 1.0, 0.0, 4.0]), "b": torch.tensor([0.0, 3.0]), "bias": torch.tensor([1.0])}
    dense_state = {"a": torch.tensor([1.0, 2.0, 3.0, 4.0]), "b": torch.tensor([5.0, 1.0]),
                   "bias": torch.tensor([7.0])}
    # survivors (inferred ≠ 0): a 0, 1, 3 → (.5, −1, 0); b 1 → 2; pruned a[2], b[0] and the bias are out
    assert stability_to_pruning(masked, dense_state, ["a", "b"]) == pytest.approx(5.25 ** 0.5)
    assert stability_to_pruning(masked, dense_state, ["a", "b"], relative=True) == \
        pytest.approx((5.25 / (1 + 4 + 16 + 1)) ** 0.5)
    masks = {"a": torch.tensor([True, True, True, True]), "b": torch.tensor([True, True])}
    all_a = stability_to_pruning(masked, dense_state, ["a"], masks=masks)
    assert all_a == pytest.approx(10.25 ** 0.5)          # + (0 − 3)²
    prev, cur, m = states()
    fields = round_stability_fields(prev, cur, prev, m)
    assert set(fields) == {"weight_stability", "stability_to_pruning", "stability_to_pruning_relative"}
    assert fields["stability_to_pruning"] == pytest.approx((0.25 + 1 + 0 + 4) ** 0.5)


# ---- ensembles ----------------------------------------------------------------------------------

def one_hot_data():
    """4 test samples; sample i is the one-hot vector e_i, so a Linear(4, 2) sets its logits freely."""
    spec = DatasetSpec("toy", "toy", 1, 2, (1, 4), (0.0,), (1.0,), False, 4, 4)
    x = torch.eye(4).reshape(4, 1, 1, 4)
    y = torch.tensor([0, 1, 0, 1])
    return DeviceDataset(spec, x, y, x, y)


def fixed_model(logits):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor(logits, dtype=torch.float32).T)
    return model


def test_ensemble_averages_softmax_probabilities():
    a = fixed_model([[2, 0], [0, 1], [0, 1], [0, 3]])     # right, right, wrong, right → 3/4
    b = fixed_model([[0, 1], [0, 2], [3, 0], [1, 0]])     # wrong, right, right, wrong → 2/4
    # mean p(class 0): s0 (σ(2) + σ(−1))/2 = .575 → 0 ✓; s2 (σ(−1) + σ(3))/2 = .611 → 0 ✓;
    # s3 p(class 1) (σ(3) + σ(−1))/2 = .611 → 1 ✓: the ensemble gets all 4
    result = ensemble_accuracy([a, b], one_hot_data(), batch_size=3)
    assert result == {"members": [0.75, 0.5], "ensemble": 1.0, "agreement": 0.25, "n": 4}
    assert ensemble_accuracy([a], one_hot_data())["ensemble"] == 0.75
    a.train()
    ensemble_accuracy([a], one_hot_data())
    assert a.training                                    # modes restored
    with pytest.raises(ValueError):
        ensemble_accuracy([], one_hot_data())
