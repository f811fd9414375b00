"""Unstructured pruning on tiny tensors: exact counts, global vs local, ties, no regrowth."""

import torch
from torch import nn

from pruning_core.config import Config
from pruning_core.masks import full_masks, prunable_parameters
from pruning_core.plan import PruneStep
from pruning_core.pruners.counting import prune_count, prune_groups
from pruning_core.pruners.pruner import make_pruner


def test_rate_to_count_rounds_half_up():
    # ⌊p·n + ½⌋: 0.2·5 = 1, 0.2·7 = 1.4 -> 1, 0.2·8 = 1.6 -> 2, 0.5·3 = 1.5 -> 2, 0.1·5 = 0.5 -> 1
    assert [prune_count(0.2, 5), prune_count(0.2, 7), prune_count(0.2, 8), prune_count(0.5, 3),
            prune_count(0.1, 5), prune_count(0.2, 0), prune_count(0.99, 1)] == [1, 1, 2, 2, 1, 0, 1]


def _two_layers():
    """Layers 'a' (2 x 2) and 'b' (1 x 4, the output layer: the last linear one) holding the weights."""
    model = nn.ModuleDict({"a": nn.Linear(2, 2, bias=False), "b": nn.Linear(4, 1, bias=False)})
    with torch.no_grad():
        model["a"].weight.copy_(torch.tensor([[0.1, -0.9], [0.5, 0.3]]))      # small magnitudes
        model["b"].weight.copy_(torch.tensor([[2.0, -0.2, 1.0, 4.0]]))         # large magnitudes
    masks = {"a.weight": torch.ones(2, 2, dtype=torch.bool), "b.weight": torch.ones(1, 4, dtype=torch.bool)}
    return model, masks


def unstructured(score="magnitude", **pruner) -> Config:
    return Config.from_dict({"pruner": {"score": score, "unit": "weight", **pruner}})


def prune(config, model, masks, rate, seed=0):
    return make_pruner(config, model).prune(masks, PruneStep.fraction(rate), 1, torch.Generator().manual_seed(seed))


def test_global_ranks_all_layers_together():
    model, masks = _two_layers()
    # 8 weights, p = 0.5 -> prune 4 smallest |w| overall: 0.1, 0.2, 0.3, 0.5
    new = prune(unstructured(grouping="global"), model, masks, 0.5)
    assert new["a.weight"].tolist() == [[False, True], [False, False]]
    assert new["b.weight"].tolist() == [[True, False, True, True]]


def test_local_prunes_each_layer_at_the_rate():
    model, masks = _two_layers()
    new = prune(unstructured(grouping="local"), model, masks, 0.5)
    assert new["a.weight"].tolist() == [[False, True], [True, False]]        # 0.1, 0.3 go
    assert new["b.weight"].tolist() == [[True, False, False, True]]          # 0.2, 1.0 go


def test_already_pruned_weights_are_not_counted_and_never_regrow():
    model, masks = _two_layers()
    masks["b.weight"][0, 3] = False          # the largest weight was pruned earlier: it stays pruned
    new = prune(unstructured(grouping="global"), model, masks, 0.5)
    # 7 alive, p = 0.5 -> ⌊3.5 + ½⌋ = 4 pruned among alive: 0.1, 0.2, 0.3, 0.5
    assert new["b.weight"].tolist() == [[True, False, True, False]]
    assert int(new["a.weight"].sum() + new["b.weight"].sum()) == 3


def test_ties_prune_the_earlier_position_first():
    scores = {"x": torch.tensor([1.0, 1.0, 1.0, 2.0]), "y": torch.tensor([1.0, 0.5])}
    masks = {k: torch.ones_like(v, dtype=torch.bool) for k, v in scores.items()}
    new = prune_groups(scores, masks, [(("x", "y"), 0.5)])   # 3 go: 0.5, then the first two 1.0s
    assert new["x"].tolist() == [False, False, True, True] and new["y"].tolist() == [True, False]


def test_output_layer_at_its_own_rate_or_excluded():
    model, masks = _two_layers()
    half = prune(unstructured(grouping="global", output_rate=0.25), model, masks, 0.5)
    assert half["a.weight"].tolist() == [[False, True], [True, False]]        # 'a' alone at 0.5
    assert half["b.weight"].tolist() == [[True, False, True, True]]          # 'b' alone at 0.25: 1 weight
    excluded = prune(unstructured(grouping="global", output_rate=0.0), model, masks, 0.5)
    assert excluded["b.weight"].all()
    assert excluded["a.weight"].tolist() == [[False, True], [True, False]]


def test_random_scores_are_reproducible_from_the_generator():
    model = nn.Sequential(nn.Linear(100, 1, bias=False))
    config = unstructured("random")
    masks = full_masks(prunable_parameters(model))
    a, b, c = (prune(config, model, masks, 0.5, seed=s)["0.weight"] for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # one U(0, 1) per weight from the round's generator; the 50 lowest go
    draws = torch.rand(1, 100, generator=torch.Generator().manual_seed(1)).reshape(-1)
    assert sorted(torch.nonzero(~a.reshape(-1)).reshape(-1).tolist()) == \
        sorted(torch.argsort(draws, stable=True)[:50].tolist())
