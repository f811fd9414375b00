"""SNIP and first-order Taylor, the two methods shipped only as plug-ins, against hand-computed
gradients, and through real runs.

Hand example (one image, no biases, class 0 is the label): x = (1, 2), W1 = I, so the hidden
post-ReLU activation is a = (1, 2). With output weights W2 the logits are z = W2 a and the loss
L = −log softmax(z)_0, so ∂L/∂z = (σ(z0 − z1) − 1, 1 − σ(z0 − z1)) = (−β, β) with
β = 1 / (1 + e^(z0 − z1)).
"""

import math

import pytest
import torch
from torch import nn

from pruning_core import run
from pruning_core.config import Config
from pruning_core.masks import full_masks, prunable_parameters
from pruning_core.plan import PruneStep
from pruning_core.pruners.pruner import make_pruner
from pruning_core.registry import SCORES


class OneImage:
    """A data stand-in: every training batch is the image ``x`` with label 0."""

    def __init__(self, x):
        self.x = torch.tensor(x, dtype=torch.float32)

    def sample_train_batch(self, n, generator):
        return self.x.expand(n, *self.x.shape[1:]).clone(), torch.zeros(n, dtype=torch.long)


def mlp(w2):
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[2].weight.copy_(torch.tensor(w2))
    return model


def scores(config, model, data):
    """The score of every weight or filter, as the pruner computes it for a step."""
    pruner = make_pruner(config, model, data)
    captured = {}
    real = pruner.score

    class Spy:
        def __call__(self, ctx):
            captured.update(real(ctx))
            return captured
    pruner.score = Spy()
    masks = pruner.prune(full_masks(prunable_parameters(model)), PruneStep.fraction(0.5), 1,
                         torch.Generator().manual_seed(0))
    return captured, masks


def test_snip_is_w_times_its_loss_gradient():
    # W2 = [[1, 0], [0, 0]]: z = (1, 0), β = 1/(1 + e). ∂L/∂W2 = (−β, β)ᵀ a = [[−β, −2β], [β, 2β]];
    # ∂L/∂a = W2ᵀ(−β, β) = (−β, 0), ReLU passes it, ∂L/∂W1 = (−β, 0)ᵀ x = [[−β, −2β], [0, 0]].
    # |W ⊙ ∂L/∂W|: W1 → [[β, 0], [0, 0]], W2 → [[β, 0], [0, 0]].
    beta = 1 / (1 + math.e)
    config = Config.from_dict({"pruner": {"score": {"name": "snip", "batch": 3}}, "algorithm": {"name": "at_init"}})
    got, masks = scores(config, mlp([[1.0, 0.0], [0.0, 0.0]]), OneImage([[1.0, 2.0]]))
    assert got["0.weight"].flatten().tolist() == pytest.approx([beta, 0, 0, 0], abs=1e-7)
    assert got["2.weight"].flatten().tolist() == pytest.approx([beta, 0, 0, 0], abs=1e-7)
    # half of the 8 weights go, lowest first, ties earlier first: W1's three zeros, then W2's first
    assert masks["0.weight"].tolist() == [[True, False], [False, False]]
    assert masks["2.weight"].tolist() == [[True, False], [True, True]]


def test_snip_reads_the_masked_network():
    # with W1[0, 0] pruned the hidden unit 0 is silent: a = (0, 2), z = (0, 0), ∂L/∂z = (−½, ½);
    # ∂L/∂W2 = [[0, −1], [0, 1]]: W2[0, 1] = 0 here, so every |w · g| of W2 is 0
    config = Config.from_dict({"pruner": {"score": "snip"}})
    model = mlp([[1.0, 0.0], [0.0, 0.0]])
    pruner = make_pruner(config, model, OneImage([[1.0, 2.0]]))
    masks = full_masks(prunable_parameters(model))
    masks["0.weight"][0, 0] = False
    from pruning_core.pruners.context import ScoreContext
    from pruning_core.pruners.units import WeightUnit
    ctx = ScoreContext(model, WeightUnit(model), pruner.params, masks, list(masks), torch.Generator(), pruner.data)
    got = SCORES.get("snip")()(ctx)
    assert got["2.weight"].tolist() == [[0, 0], [0, 0]]
    assert got["0.weight"][1, 1] == pytest.approx(0.0)      # ∂L/∂a₁ = W2[:, 1]ᵀ(−½, ½) = 0


def test_taylor_is_the_activation_times_its_gradient_summed():
    # W2 = [[1, 1], [0, 0]]: z = (3, 0), β = 1/(1 + e³); ∂L/∂a = W2ᵀ(−β, β) = (−β, −β);
    # |Σ a · ∂L/∂a| = (β, 2β): neuron 0 goes, and so does the output layer's input 0
    beta = 1 / (1 + math.e ** 3)
    config = Config.from_dict({"pruner": {"score": {"name": "taylor", "batch": 4}, "grouping": "local"}})
    got, masks = scores(config, mlp([[1.0, 1.0], [0.0, 0.0]]), OneImage([[1.0, 2.0]]))
    assert got["0.weight"].tolist() == pytest.approx([beta, 2 * beta], rel=1e-6)
    assert set(got) == {"0.weight"}                          # the output layer's classes are not scored
    assert masks["0.weight"].tolist() == [[False, False], [True, True]]
    assert masks["2.weight"].tolist() == [[False, True], [False, True]]


def test_taylor_sums_over_the_positions_of_a_conv_filter():
    # conv 1 → 2 (1×1, w = 1 each) on a 1×2 image (1, 2): both filters output (1, 2); flatten gives
    # (f0p0, f0p1, f1p0, f1p1) = (1, 2, 1, 2); W = [[1, 0, 0, 1], [0, 0, 0, 0]]: z = (3, 0),
    # ∂L/∂features = (−β, 0, 0, −β): filter 0: 1·(−β) + 2·0 = −β, filter 1: 1·0 + 2·(−β) = −2β
    beta = 1 / (1 + math.e ** 3)
    model = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[3].weight.copy_(torch.tensor([[1.0, 0, 0, 1], [0, 0, 0, 0]]))
    config = Config.from_dict({"pruner": {"score": "taylor"}})
    got, masks = scores(config, model, OneImage([[[[1.0, 2.0]]]]))
    assert got["0.weight"].tolist() == pytest.approx([beta, 2 * beta], rel=1e-6)
    assert not masks["0.weight"][0].any() and masks["0.weight"][1].all()
    assert masks["3.weight"][:, :2].sum() == 0 and masks["3.weight"][:, 2:].all()     # filter 0's two features


@pytest.mark.slow
def test_snip_at_initialisation_on_digits(tmp_path):
    result = run({"pruner": {"score": "snip"}, "algorithm": {"name": "at_init", "rate": 0.9},
                  "training": {"epochs": 2, "batch_size": 200}}, cache_dir=tmp_path)
    rounds = result.rounds
    assert rounds["round"].tolist() == [1] and rounds["retrain_epochs"].tolist() == [2]
    assert int(rounds["remaining_weights"].iloc[0]) == 50_200 - round(0.9 * 50_200)     # ⌊0.9·50200 + ½⌋ pruned
    magnitude = run({"algorithm": {"name": "at_init", "rate": 0.9}, "training": {"epochs": 2, "batch_size": 200}},
                    cache_dir=tmp_path)
    assert not torch.equal(result.masks(1)["classifier.0.weight"], magnitude.masks(1)["classifier.0.weight"])


@pytest.mark.slow
def test_taylor_filter_pruning_on_digits(tmp_path):
    result = run({"pruner": {"score": "taylor", "grouping": "local"},
                  "algorithm": {"rounds": 2, "rewind_epoch": 1}, "training": {"epochs": 2, "batch_size": 200}},
                 cache_dir=tmp_path)
    masks = result.masks(-1)
    rows = lambda m: int(m.any(dim=1).sum())          # noqa: E731 - alive neurons
    assert rows(masks["classifier.0.weight"]) == 192 and rows(masks["classifier.2.weight"]) == 64   # 300→240→192, 100→80→64
    assert rows(masks["classifier.4.weight"]) == 10
