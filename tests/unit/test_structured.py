"""Structured pruning on tiny hand-built models: channels (L1/L2/L∞/random), filters (ILP) with the
next layer's matching input, hybrid, fc-only, scopes, IAP and AIAP, and runs through pruning_core.run."""

import json

import pytest
import torch
from torch import nn

from pruning_core import run
from pruning_core.config import Config, ConfigError
from pruning_core.masks import full_masks, prunable_parameters
from pruning_core.plan import PruneStep
from pruning_core.pruners.activation import mean_activations
from pruning_core.pruners.pruner import make_pruner
from pruning_core.pruners.selection import next_threshold
from pruning_core.pruners.units import filter_links


def cfg(**pruner) -> Config:
    """A config with these pruner settings; the model name only tells validation that the hand-built
    models below have convs (lenet5), the pruners get the models themselves."""
    return Config.from_dict({"model": {"name": "lenet5"}, "dataset": {"name": "fashion_mnist"}, "pruner": pruner})


def set_weights(model, **values):
    """Set prunable weights by module index, e.g. set_weights(m, **{"0": tensor})."""
    with torch.no_grad():
        for idx, value in values.items():
            model[int(idx)].weight.copy_(torch.as_tensor(value, dtype=torch.float32).view_as(model[int(idx)].weight))
    return model


def prune(config, model, masks=None, rate=0.5, round_index=1, seed=0, data=None):
    masks = masks if masks is not None else full_masks(prunable_parameters(model))
    return make_pruner(config, model, data).prune(masks, PruneStep.fraction(rate), round_index,
                                                  torch.Generator().manual_seed(seed))


def aiap(**selection) -> dict:
    """AIAP: activation scores of output filters, removed at or below the adaptive threshold T[r]."""
    return {"score": "activation", "unit": "output_filter", "selection": {"name": "threshold", **selection}}


def dead_columns(mask):
    """Input channels/features all of whose weights are pruned."""
    return [c for c in range(mask.shape[1]) if not mask[:, c].any()]


def dead_rows(mask):
    return [f for f in range(mask.shape[0]) if not mask[f].any()]


# ---------------------------------------------------------------------------------------------
# Input axis (Paganini & Forde)
# ---------------------------------------------------------------------------------------------

def _three_channel_conv():
    # conv 3 -> 4 (1x1): input-channel slices W[:, c] of 4 weights each
    #   c0 = [3, 0, 0, 0]        L1 3.0  L2 3.0    L∞ 3.0
    #   c1 = [1, 1, 1, 1.5]      L1 4.5  L2 2.291  L∞ 1.5
    #   c2 = [1.2, 1.2, 1.2, 1.2] L1 4.8 L2 2.4    L∞ 1.2
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))
    w = torch.tensor([[3.0, 0, 0, 0], [1, 1, 1, 1.5], [1.2, 1.2, 1.2, 1.2]]).t()   # (out 4, in 3)
    return set_weights(model, **{"0": w})


@pytest.mark.parametrize("norm,victim", [("l1", 0), ("l2", 1), ("linf", 2)])
def test_l1_l2_linf_each_prune_a_different_channel(norm, victim):
    model = _three_channel_conv()
    # p = 1/3 of 3 alive channels: ⌊1 + ½⌋ = 1 channel, the one with the smallest norm
    new = prune(cfg(unit="input_channel", score={"name": "magnitude", "norm": norm}, grouping="local",
                    layers="conv"), model, rate=1 / 3)
    expected = torch.ones(4, 3, 1, 1, dtype=torch.bool)
    expected[:, victim] = False
    assert torch.equal(new["0.weight"], expected)
    assert new["3.weight"].all()                                    # layers="conv": linear untouched


def test_already_dead_channels_are_not_counted():
    model = nn.Sequential(nn.Linear(4, 2))
    set_weights(model, **{"0": [[1.0, 2.0, 3.0, 0.1], [1.0, 2.0, 3.0, 0.1]]})
    masks = full_masks(prunable_parameters(model))
    masks["0.weight"][:, 3] = False                     # pruned earlier (smallest): not counted, stays dead
    # p = 0.5 of the 3 alive channels: ⌊1.5 + ½⌋ = 2 -> channels 0 and 1 (L1 1, 2); 2 (L1 3) survives
    new = prune(cfg(unit="input_channel", grouping="local"), model, masks)
    assert dead_columns(new["0.weight"]) == [0, 1, 3]


def test_random_structured_prunes_whole_channels_and_is_seeded():
    model = nn.Sequential(nn.Linear(10, 6))
    config = cfg(unit="input_channel", score="random", grouping="local")
    a, b, c = (prune(config, model, seed=s)["0.weight"] for s in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    for col in range(10):                                       # whole columns only
        assert a[:, col].all() or not a[:, col].any()
    # one U(0, 1) per input feature from the round's generator; the 5 lowest go
    draws = torch.rand(10, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    assert dead_columns(a) == sorted(torch.argsort(draws, stable=True)[:5].tolist())


def _two_conv_two_linear():
    # per input channel: conv A (2 -> 2): c0 [.1,.1], c1 [.2,.2]; conv B: c0 [.3,.3], c1 [2,2];
    # linear C (2 -> 2): c0 [.5,.5], c1 [.6,.6]; linear D: c0 [.1,.1], c1 [.7,.7]   (mean |w| per slice)
    model = nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU(), nn.Conv2d(2, 2, 1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    return set_weights(model, **{"0": [[.1, .2], [.1, .2]], "2": [[.3, 2], [.3, 2]],
                                 "5": [[.5, .6], [.5, .6]], "7": [[.1, .7], [.1, .7]]})


@pytest.mark.parametrize("grouping,expected", [
    ("local", {"0.weight": [0], "2.weight": [0], "5.weight": [0], "7.weight": [0]}),      # 1 of 2 each
    ("per_type", {"0.weight": [0, 1], "2.weight": [], "5.weight": [0], "7.weight": [0]}),  # 2 of 4 per kind
    ("global", {"0.weight": [0, 1], "2.weight": [0], "5.weight": [], "7.weight": [0]}),    # 4 of 8
])
def test_scopes_local_per_type_global(grouping, expected):
    new = prune(cfg(unit="input_channel", grouping=grouping), _two_conv_two_linear())
    assert {n: dead_columns(m) for n, m in new.items()} == expected


def test_global_scope_compares_mean_magnitudes_not_raw_norms():
    # layer 0 (4 x 2): slices of 4 weights, c0 = 0.3 each (L1 1.2, mean .3), c1 = 0.9 (L1 3.6, mean .9)
    # layer 2 (1 x 4): slices of 1 weight: .5, 1, 2, 3
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    set_weights(model, **{"0": [[.3, .9]] * 4, "2": [[.5, 1.0, 2.0, 3.0]]})
    new = prune(cfg(unit="input_channel", grouping="global"), model)          # 3 of 6 channels
    # normalised: .3 (0/c0), .5 (2/c0), .9 (0/c1); the raw L1 norm would take .5, 1.0, 1.2 instead
    assert dead_columns(new["0.weight"]) == [0, 1] and dead_columns(new["2.weight"]) == [0]


# ---------------------------------------------------------------------------------------------
# Output axis (ILP) and the next layer's input
# ---------------------------------------------------------------------------------------------

def _conv_conv_linear():
    # conv A 1 -> 3 (1x1), conv B 3 -> 2 (1x1), flatten of 2 x (2x2) -> linear 8 -> 2 (output)
    model = nn.Sequential(nn.Conv2d(1, 3, 1), nn.ReLU(), nn.Conv2d(3, 2, 1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8, 2))
    return set_weights(model, **{"0": [1.0, 0.1, 2.0], "2": [[1, 1, 1], [.1, .1, .1]]})


def test_filter_links_from_shapes():
    assert filter_links(_conv_conv_linear()) == {"0.weight": ("2.weight", 1), "2.weight": ("5.weight", 4)}


def test_filter_pruning_removes_the_next_layers_matching_inputs():
    new = prune(cfg(unit="output_filter", grouping="local"), _conv_conv_linear())
    # A: ⌊0.5·3 + ½⌋ = 2 filters with the smallest L1 (0.1, 1.0) -> B loses input channels 0, 1
    assert dead_rows(new["0.weight"]) == [0, 1] and dead_columns(new["2.weight"]) == [0, 1]
    # B: 1 of 2 filters (L1 of [.1,.1,.1]) -> the linear layer loses its H·W = 4 features 4..7
    assert dead_rows(new["2.weight"]) == [1] and dead_columns(new["5.weight"]) == [4, 5, 6, 7]
    assert dead_rows(new["5.weight"]) == []                             # classes are never pruned


def test_neuron_pruning_in_linear_layers_never_prunes_classes():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    set_weights(model, **{"0": [[1.0] * 3, [.2] * 3, [3.0] * 3, [.1] * 3]})
    new = prune(cfg(unit="output_filter", grouping="global"), model)   # global group = hidden layer only
    assert dead_rows(new["0.weight"]) == [1, 3] and dead_columns(new["2.weight"]) == [1, 3]
    assert dead_rows(new["2.weight"]) == []


def test_already_dead_filters_are_not_counted():
    model = _conv_conv_linear()
    masks = full_masks(prunable_parameters(model))
    masks["0.weight"][1] = False
    # 2 alive filters of A, p = 0.5: ⌊1 + ½⌋ = 1 -> filter 0 (L1 1.0); filter 1 stays dead
    new = prune(cfg(unit="output_filter", grouping="local", layers="conv"), model, masks)
    assert dead_rows(new["0.weight"]) == [0, 1]


def test_hybrid_channels_on_convs_unstructured_on_linears():
    model = _two_conv_two_linear()
    new = prune(cfg(unit="hybrid", grouping="local"), model)
    assert dead_columns(new["0.weight"]) == [0] and dead_columns(new["2.weight"]) == [0]
    # linear layers: ⌊0.5·4 + ½⌋ = 2 single weights by |w| (ties: lower flat index): C .5,.5; D .1,.1
    assert new["5.weight"].tolist() == [[False, True], [False, True]]
    assert new["7.weight"].tolist() == [[False, True], [False, True]]
    model[5].weight.data = torch.tensor([[.5, .01], [.05, .6]])          # .01 and .05: not a whole column
    assert prune(cfg(unit="hybrid", grouping="local"), model)["5.weight"].tolist() == [[True, False], [False, True]]


@pytest.mark.parametrize("unit", ["input_channel", "output_filter"])
def test_fc_only_leaves_convs_dense(unit):
    model = _two_conv_two_linear()
    new = prune(cfg(unit=unit, layers="linear", grouping="local"), model)
    assert new["0.weight"].all() and new["2.weight"].all()
    assert not new["5.weight"].all()


def test_filter_pruning_of_resnets_raises_a_clear_error():
    from pruning_core.models import build_model
    model = build_model("resnet20", in_channels=3, num_classes=10, input_size=(32, 32))
    with pytest.raises(ConfigError, match=r"pruner\.unit"):               # caught when the config is read
        Config.from_dict({"model": {"name": "resnet20"}, "pruner": {"unit": "output_filter"}})
    config = Config.from_dict({"pruner": {"unit": "output_filter"}})     # and by the pruner itself
    with pytest.raises(ValueError, match=r"pruner\.unit.*lenet5.*vgg19"):
        make_pruner(config, model)
    channels = Config.from_dict({"model": {"name": "resnet20"}, "pruner": {"unit": "input_channel"}})
    make_pruner(channels, model)                                    # the input axis works on ResNets


# ---------------------------------------------------------------------------------------------
# IAP and AIAP
# ---------------------------------------------------------------------------------------------

class Ones:
    """A data stand-in: every training image is all ones (1 x 2 x 2)."""

    def sample_train_batch(self, n, generator):
        return torch.ones(n, 1, 2, 2), torch.zeros(n, dtype=torch.long)


def _known_activations():
    # conv 1 -> 3 (1x1, bias 0) on ones: filter outputs -1, 1, 2 -> after ReLU means 0, 1, 2
    # hidden linear 12 -> 2 sees [0]*4 + [1]*4 + [2]*4: row 0 sums the middle 4 (= 4), row 1 is -1s (ReLU 0)
    model = nn.Sequential(nn.Conv2d(1, 3, 1), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2), nn.ReLU(),
                          nn.Linear(2, 2))
    set_weights(model, **{"0": [-1.0, 1.0, 2.0], "3": [[0] * 4 + [1] * 4 + [0] * 4, [-1] * 12]})
    with torch.no_grad():
        model[0].bias.zero_()
        model[3].bias.zero_()
    return model


def test_mean_activations_are_post_relu_means():
    model = _known_activations()
    names = ["0.weight", "3.weight"]
    act = mean_activations(model, full_masks(prunable_parameters(model)), names, torch.ones(5, 1, 2, 2))
    assert act["0.weight"].tolist() == [0.0, 1.0, 2.0] and act["3.weight"].tolist() == [4.0, 0.0]
    assert model.training                                          # restored after the eval-mode pass


def test_activation_score_picks_its_valid_unit_and_grouping():
    default = Config.from_dict({})
    assert (default.pruner.unit, default.pruner.grouping) == ("weight", "global")
    # activation ranks output filters, each layer on its own: those are filled in unless given
    config = Config.from_dict({"pruner": {"score": "activation"}})
    assert config.pruner.unit == "output_filter" and config.pruner.grouping == "local"
    with pytest.raises(ConfigError, match=r"pruner\.unit"):
        Config.from_dict({"pruner": {"score": "activation", "unit": "weight"}})


def test_iap_prunes_the_lowest_mean_activations_per_layer():
    model = _known_activations()
    config = cfg(score="activation", unit="output_filter", grouping="local", conv_rate=0.5, dense_rate=0.5)
    new = prune(config, model, data=Ones())
    # conv: ⌊0.5·3 + ½⌋ = 2 of means (0, 1, 2) -> filters 0, 1, and their 2·4 features of the linear layer
    assert dead_rows(new["0.weight"]) == [0, 1] and dead_columns(new["3.weight"]) == list(range(8))
    # hidden linear: 1 of means (4, 0) -> neuron 1, and the output layer's input 1
    assert dead_rows(new["3.weight"]) == [1] and dead_columns(new["5.weight"]) == [1]
    assert dead_rows(new["5.weight"]) == []
    # activations of different layers are not comparable: ranking them together is refused by the config
    with pytest.raises(ConfigError, match=r"pruner\.grouping"):
        cfg(score="activation", unit="output_filter", grouping="per_type")


def test_aiap_threshold_sequence():
    # T[r] = 0 for r <= 3, then + λ when d < 1 %, else unchanged
    ds = [0.5, 0.0, 0.0, 0.005, 0.02, 0.001, 0.01, 0.009]
    t, seq = 0.0, []
    for r, d in enumerate(ds, start=1):
        t = next_threshold(t, r, d, 0.01, 3, 0.01)
        seq.append(round(t, 12))
    assert seq == [0.0, 0.0, 0.0, 0.01, 0.01, 0.02, 0.02, 0.03]


def test_aiap_d_is_relative_to_the_original_conv_parameters():
    model = nn.Sequential(nn.Conv2d(1, 100, 1), nn.ReLU(), nn.Flatten(), nn.Linear(100, 2))
    selection = make_pruner(cfg(**aiap(step=0.01)), model, Ones()).selection
    assert selection.counted == ["0.weight"] and selection.total == 100        # P[0]
    for r, alive in enumerate([100, 95, 95, 94, 94, 93], start=1):           # P[1..6]
        masks = full_masks(prunable_parameters(model))
        masks["0.weight"][:100 - alive] = False
        selection.record(r, masks)
    # d[r] = (P[r-2] - P[r-1]) / 100: r=4: 0 -> +λ; r=5: 1 % -> same; r=6: 0 -> +λ; r=7: 1 % -> same
    assert [selection.fraction_removed(r) for r in (4, 5, 6, 7)] == [0.0, 0.01, 0.0, 0.01]
    assert [round(selection.threshold(r), 12) for r in range(1, 8)] == [0, 0, 0, 0.01, 0.01, 0.02, 0.02]


def test_aiap_prunes_filters_with_mean_activation_at_or_below_t():
    model = _known_activations()
    at_zero = prune(cfg(**aiap()), model, data=Ones(), round_index=1)
    # T[1] = 0: only the exactly-zero means go: conv filter 0 and hidden neuron 1
    assert dead_rows(at_zero["0.weight"]) == [0] and dead_rows(at_zero["3.weight"]) == [1]
    assert dead_columns(at_zero["3.weight"]) == [0, 1, 2, 3] and dead_columns(at_zero["5.weight"]) == [1]
    # s = 0: T[1] = T[0] + λ (d = 0, nothing removed before round 1) = 1 -> means 0 and 1 (<= T) go
    raised = prune(cfg(**aiap(start_round=0, step=1.0)), model, data=Ones(), round_index=1)
    assert dead_rows(raised["0.weight"]) == [0, 1] and dead_rows(raised["3.weight"]) == [1]


def test_aiap_rebuilt_pruner_needs_the_history_and_then_agrees():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 40, 1), nn.ReLU(), nn.Flatten(), nn.Linear(160, 20), nn.ReLU(),
                          nn.Linear(20, 2))
    config = cfg(**aiap(step=0.05, start_round=1))
    gen, step = torch.Generator().manual_seed, PruneStep.fraction(0.2)
    history = [full_masks(prunable_parameters(model))]
    pruner = make_pruner(config, model, Ones())
    for r in range(1, 6):
        history.append(pruner.prune(history[-1], step, r, gen(r)))
        if r == 3:                                                  # the state committed with round 3
            committed = json.loads(json.dumps(pruner.state_dict()))
    rebuilt = make_pruner(config, model, Ones())                    # as after a resume at round 4
    with pytest.raises(RuntimeError, match="load_state_dict"):
        rebuilt.selection.fraction_removed(4)
    with pytest.raises(RuntimeError, match="load_state_dict"):
        make_pruner(config, model, Ones()).prune(history[3], step, 4, gen(4))
    rebuilt.load_state_dict(committed)
    assert all(torch.equal(rebuilt.prune(history[r - 1], step, r, gen(r))[n], history[r][n])
               for r in (4, 5) for n in history[r])
    assert [rebuilt.selection.threshold(r) for r in (4, 5)] == [pruner.selection.threshold(r) for r in (4, 5)]


# ---------------------------------------------------------------------------------------------
# Through pruning_core.run
# ---------------------------------------------------------------------------------------------

def test_iap_run_on_digits(tmp_path):
    config = {"model": {"name": "lenet300_100"},
              "pruner": {"score": "activation", "unit": "output_filter", "grouping": "local",
                         "dense_rate": 0.2},
              "training": {"epochs": 2, "batch_size": 200}, "algorithm": {"rounds": 2, "rewind_epoch": 1}}
    result = run(config, cache_dir=tmp_path)
    assert result.status == "finished" and result.rounds["round"].tolist() == [0, 1, 2]
    masks = result.masks(-1)
    fc1, fc2, out = masks["classifier.0.weight"], masks["classifier.2.weight"], masks["classifier.4.weight"]
    # neurons: 300 -> 240 -> 192, 100 -> 80 -> 64 (20 % of the alive ones per round); classes all kept
    assert len(dead_rows(fc1)) == 300 - 192 and len(dead_rows(fc2)) == 100 - 64 and dead_rows(out) == []
    assert dead_columns(fc2) == dead_rows(fc1) and dead_columns(out) == dead_rows(fc2)
    assert fc1.sum() == 192 * 64 and fc2.sum() == 64 * 192 and out.sum() == 10 * 64


def test_ilp_on_lenet5_28x28(tmp_path, monkeypatch):
    import pruning_core.runner as runner
    from pruning_core.data import available_offline
    name = next((n for n in ("mnist", "fashion_mnist") if n in available_offline()), None)
    if name is None:
        pytest.skip("needs mnist or fashion_mnist offline")
    real = runner.load_dataset

    def first_images(*args, **kwargs):             # the real 28x28 images, 1000 train / 500 test, for speed
        data = real(*args, **kwargs)
        data.train_x, data.train_y = data.train_x[:1000], data.train_y[:1000]
        data.test_x, data.test_y = data.test_x[:500], data.test_y[:500]
        return data
    monkeypatch.setattr(runner, "load_dataset", first_images)
    config = {"model": {"name": "lenet5"}, "dataset": {"name": name},
              "pruner": {"score": "magnitude", "unit": "output_filter", "grouping": "local"},
              "training": {"epochs": 1, "batch_size": 250}, "algorithm": {"rounds": 1, "rewind_epoch": 0}}
    result = run(config, cache_dir=tmp_path)
    masks = result.masks(-1)
    conv1, conv2, fc1 = masks["features.0.weight"], masks["features.3.weight"], masks["classifier.0.weight"]
    assert len(dead_rows(conv1)) == 1 and dead_columns(conv2) == dead_rows(conv1)       # ⌊0.2·6 + ½⌋
    assert len(dead_rows(conv2)) == 3                                                    # ⌊0.2·16 + ½⌋
    assert dead_columns(fc1) == [f * 25 + i for f in dead_rows(conv2) for i in range(25)]   # 5x5 each
    assert len(dead_rows(fc1)) == 24 and dead_rows(masks["classifier.4.weight"]) == []  # ⌊0.2·120 + ½⌋
