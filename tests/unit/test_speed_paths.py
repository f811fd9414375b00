"""The speed paths stay exact: the k-th-value global threshold, the hot loop without host syncs,
channels_last, and the masked step."""

import torch

from pruning_core.pruners.counting import prune_groups
from pruning_core.pruners.selection import kth_smallest, lowest_alive, prune_groups_kth


def test_kth_threshold_matches_a_hand_computed_example():
    # alive scores 0.5, 1, 1, 1, 2, 0.7 (y[1] is already pruned, its 0.1 does not count);
    # p = 0.5 of 6 alive → ⌊3 + ½⌋ = 3 go: 0.5, 0.7, then the first 1.0 (x[1])
    scores = {"x": torch.tensor([0.5, 1.0, 1.0, 1.0]), "y": torch.tensor([2.0, 0.1, 0.7])}
    masks = {"x": torch.ones(4, dtype=torch.bool), "y": torch.tensor([True, False, True])}
    new = prune_groups_kth(scores, masks, [(("x", "y"), 0.5)])
    assert new["x"].tolist() == [False, False, True, True]
    assert new["y"].tolist() == [True, False, False]
    assert masks["y"].tolist() == [True, False, True]          # inputs untouched


def test_kth_smallest_is_torch_kthvalue():
    v = torch.randn(1001, generator=torch.Generator().manual_seed(0))
    for k in (1, 17, 500, 1001):
        assert kth_smallest(v, k).item() == torch.kthvalue(v, k).values.item()


def test_kth_threshold_equals_the_stable_sort_with_ties_and_dead_entries():
    g = torch.Generator().manual_seed(1)
    for trial in range(20):
        shapes = [(7, 5), (13,), (3, 2, 2)]
        scores = {f"l{i}": torch.randint(0, 6, s, generator=g).float() for i, s in enumerate(shapes)}  # many ties
        masks = {k: torch.rand(v.shape, generator=g) > 0.3 for k, v in scores.items()}
        rate = [0.2, 0.5, 0.9, 1.0][trial % 4]
        groups = [(tuple(scores), rate)] if trial % 2 else [((k,), rate) for k in scores]
        want, got = prune_groups(scores, masks, groups), prune_groups_kth(scores, masks, groups)
        assert all(torch.equal(want[k], got[k]) for k in scores), trial


def test_lowest_alive_prunes_exactly_n():
    s = torch.zeros(100)                                      # all tied
    m = torch.ones(100, dtype=torch.bool)
    new = lowest_alive(s.clone(), m, 37)
    assert int(new.sum()) == 63 and not new[:37].any() and new[37:].all()
