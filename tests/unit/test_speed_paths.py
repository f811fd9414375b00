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


# ----------------------------------------------------------------------------- no host sync in a step
import dataclasses  # noqa: E402

import pytest  # noqa: E402

from pruning_core.config import TrainingConfig  # noqa: E402
from pruning_core.data import load_dataset  # noqa: E402
from pruning_core.devices import HostSyncCounter, cpu_resident_optimizer_state  # noqa: E402
from pruning_core.masks import MaskEnforcer, full_masks, prunable_parameters  # noqa: E402
from pruning_core.models import build_model  # noqa: E402
from pruning_core.train import TrainCallbacks, make_optimizer, train_epochs  # noqa: E402


def _pruned_lenet(seed=0):
    torch.manual_seed(seed)
    model = build_model("lenet300_100", in_channels=1, num_classes=10, input_size=(8, 8))
    params = prunable_parameters(model)
    masks = prune_groups_kth({n: p.detach().abs() for n, p in params.items()}, full_masks(params),
                             [(tuple(params), 0.5)])
    return model, params, masks


def _steps_syncs(cfg, *, extra=None):
    """Host reads counted inside every training step (between should_stop and after_step)."""
    data = load_dataset("digits")
    model, params, masks = _pruned_lenet()
    optimizer = make_optimizer(cfg, model.parameters())
    counter = HostSyncCounter(exempt=lambda: cpu_resident_optimizer_state(optimizer))
    steps = [0]

    def start() -> bool:
        counter.active = True
        return False

    def end(lr) -> None:
        if extra is not None:
            extra()
        counter.active = False
        steps[0] += 1

    enforcer = MaskEnforcer(params, masks)
    enforcer.mask_weights()
    with counter:
        train_epochs(model, data, cfg, range(2), lambda t: cfg.lr, torch.Generator().manual_seed(0),
                     enforcer=enforcer, optimizer=optimizer, callbacks=TrainCallbacks(should_stop=start, after_step=end))
    assert steps[0] == 2 * -(-data.n_train // cfg.batch_size)
    return counter


@pytest.mark.parametrize("optimizer,clip", [("nadam", None), ("adam", 1.0), ("sgd", 1.0), ("sgd", None)])
def test_no_host_sync_inside_a_training_step(optimizer, clip):
    cfg = dataclasses.replace(TrainingConfig(), batch_size=100, optimizer=optimizer, grad_clip=clip)
    counter = _steps_syncs(cfg)
    assert counter.total == 0, (counter.counts, counter.log)


def test_the_sync_counter_sees_an_item_call():
    cfg = dataclasses.replace(TrainingConfig(), batch_size=500)
    witness = torch.ones(3)
    counter = _steps_syncs(cfg, extra=lambda: (witness.sum().item(), bool(witness.any())))
    assert counter.counts == {"_local_scalar_dense": 2 * 3 * 2}, counter.counts   # 2 reads x 3 steps x 2 epochs


# ----------------------------------------------------------------------------- channels_last (CUDA path, run on CPU)
def test_channels_last_path_trains_the_same_network(monkeypatch):
    import copy

    import pruning_core.train as train

    data = load_dataset("digits")
    torch.manual_seed(0)
    init = build_model("conv2", in_channels=1, num_classes=10, input_size=(8, 8))
    cfg = dataclasses.replace(TrainingConfig(), batch_size=64, optimizer="sgd", grad_clip=1.0)

    def run(model):
        params = prunable_parameters(model)
        masks = prune_groups_kth({n: p.detach().abs() for n, p in params.items()}, full_masks(params),
                                 [(tuple(params), 0.5)])
        enforcer = MaskEnforcer(params, masks)
        enforcer.mask_weights()
        hist = train_epochs(model, data, cfg, range(2), lambda t: cfg.lr, torch.Generator().manual_seed(0),
                            enforcer=enforcer)
        return hist, params, masks, enforcer

    plain_hist, plain, masks, _ = run(copy.deepcopy(init))
    assert not train.wants_channels_last(init, torch.device("cpu"))            # CPU: layout untouched
    monkeypatch.setattr(train, "wants_channels_last", lambda model, device: True)   # the CUDA branch
    nhwc_hist, nhwc, masks2, enforcer = run(copy.deepcopy(init))
    conv = [n for n, p in nhwc.items() if p.dim() == 4]
    assert conv and all(nhwc[n].is_contiguous(memory_format=torch.channels_last) for n in conv)
    assert all(f.stride() == p.stride() for f, p in zip(enforcer.factors, enforcer.params))
    for n in plain:
        assert torch.equal(masks[n], masks2[n])
        assert (nhwc[n].detach()[~masks2[n]] == 0).all()                         # pruned stay exactly 0
        torch.testing.assert_close(nhwc[n], plain[n], rtol=1e-4, atol=1e-5)
    assert abs(nhwc_hist[-1].test_accuracy - plain_hist[-1].test_accuracy) <= 1 / data.n_test + 1e-9
