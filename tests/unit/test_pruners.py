"""Unstructured pruning on tiny tensors: exact counts, global vs local, ties, no regrowth."""

import torch

from pruning_core.pruners import prune_count, prune_unstructured, score_weights


def test_rate_to_count_rounds_half_up():
    # ⌊p·n + ½⌋: 0.2·5 = 1, 0.2·7 = 1.4 -> 1, 0.2·8 = 1.6 -> 2, 0.5·3 = 1.5 -> 2, 0.1·5 = 0.5 -> 1
    assert [prune_count(0.2, 5), prune_count(0.2, 7), prune_count(0.2, 8), prune_count(0.5, 3),
            prune_count(0.1, 5), prune_count(0.2, 0), prune_count(0.99, 1)] == [1, 1, 2, 2, 1, 0, 1]


def _two_layers():
    a = torch.tensor([[0.1, -0.9], [0.5, 0.3]])      # small magnitudes
    b = torch.tensor([[2.0, -0.2, 1.0, 4.0]])         # large magnitudes
    masks = {"a": torch.ones(2, 2, dtype=torch.bool), "b": torch.ones(1, 4, dtype=torch.bool)}
    return {"a": a, "b": b}, masks


def test_global_ranks_all_layers_together():
    params, masks = _two_layers()
    # 8 weights, p = 0.5 -> prune 4 smallest |w| overall: 0.1, 0.2, 0.3, 0.5
    new = prune_unstructured(score_weights("magnitude", params), masks, 0.5, "global")
    assert new["a"].tolist() == [[False, True], [False, False]]
    assert new["b"].tolist() == [[True, False, True, True]]


def test_local_prunes_each_layer_at_the_rate():
    params, masks = _two_layers()
    new = prune_unstructured(score_weights("magnitude", params), masks, 0.5, "local")
    assert new["a"].tolist() == [[False, True], [True, False]]        # 0.1, 0.3 go
    assert new["b"].tolist() == [[True, False, False, True]]          # 0.2, 1.0 go


def test_already_pruned_weights_are_not_counted_and_never_regrow():
    params, masks = _two_layers()
    masks["b"][0, 3] = False          # the largest weight was pruned earlier: it stays pruned
    new = prune_unstructured(score_weights("magnitude", params), masks, 0.5, "global")
    # 7 alive, p = 0.5 -> ⌊3.5 + ½⌋ = 4 pruned among alive: 0.1, 0.2, 0.3, 0.5
    assert new["b"].tolist() == [[True, False, True, False]]
    assert int(new["a"].sum() + new["b"].sum()) == 3


def test_ties_prune_the_earlier_position_first():
    scores = {"x": torch.tensor([1.0, 1.0, 1.0, 2.0]), "y": torch.tensor([1.0, 0.5])}
    masks = {k: torch.ones_like(v, dtype=torch.bool) for k, v in scores.items()}
    new = prune_unstructured(scores, masks, 0.5, "global")   # 3 go: 0.5, then the first two 1.0s
    assert new["x"].tolist() == [False, False, True, True] and new["y"].tolist() == [True, False]


def test_output_layer_at_its_own_rate_or_excluded():
    params, masks = _two_layers()
    scores = score_weights("magnitude", params)
    half = prune_unstructured(scores, masks, 0.5, "global", layer_rates={"b": 0.25})
    assert half["a"].tolist() == [[False, True], [True, False]]        # 'a' alone at 0.5
    assert half["b"].tolist() == [[True, False, True, True]]          # 'b' alone at 0.25: 1 weight
    excluded = prune_unstructured(scores, masks, 0.5, "global", layer_rates={"b": 0.0})
    assert excluded["b"].all()


def test_random_scores_are_reproducible_from_the_generator():
    params = {"w": torch.zeros(100)}
    a = score_weights("random", params, torch.Generator().manual_seed(1))["w"]
    b = score_weights("random", params, torch.Generator().manual_seed(1))["w"]
    c = score_weights("random", params, torch.Generator().manual_seed(2))["w"]
    assert torch.equal(a, b) and not torch.equal(a, c)
