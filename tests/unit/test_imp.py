"""IMP / AIMP on the always-available digits data, with exact checks of what each variant does."""

import dataclasses

import pytest
import torch

import pruning_core.loop as loop
from pruning_core import run
from pruning_core.masks import load_masks
from pruning_core.train import TrainCallbacks


def tiny(**over):
    """A run of seconds: LeNet-300-100 on digits, T = 3 epochs, rewind to k = 1, 2 rounds."""
    config = {"training": {"epochs": 3, "batch_size": 100}, "algorithm": {"rounds": 2, "rewind_epoch": 1}}
    for dotted, value in over.items():
        section, key = dotted.split("__")
        config.setdefault(section, {})[key] = value
    return config


@pytest.fixture
def calls(monkeypatch):
    """Record, for every train_epochs call, the model state it starts from, its schedule epochs and LRs."""
    recorded = []
    real = loop.train_epochs

    def spy(model, data, cfg, schedule_epochs, lr_at, generator, *, enforcer=None, callbacks=None, **kw):
        schedule_epochs = list(schedule_epochs)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        lrs = [lr_at(e + i / 15) for e in schedule_epochs for i in range(15)]   # digits at batch 100: 15 steps
        zero_checks = []
        callbacks = callbacks if callbacks is not None else TrainCallbacks()
        inner = callbacks.after_step

        def after_step(lr):
            if enforcer is not None:
                zero_checks.append(all(bool((p[f == 0] == 0).all())
                                       for p, f in zip(enforcer.params, enforcer.factors)))
            if inner is not None:
                inner(lr)
        recorded.append({"state": state, "epochs": list(schedule_epochs), "lrs": lrs, "zeros": zero_checks})
        return real(model, data, cfg, schedule_epochs, lr_at, generator, enforcer=enforcer,
                    callbacks=dataclasses.replace(callbacks, after_step=after_step), **kw)

    monkeypatch.setattr(loop, "train_epochs", spy)
    return recorded


def test_weight_rewinding_restores_exactly_the_epoch_k_weights_on_survivors(tmp_path, calls):
    result = run(tiny(), cache_dir=tmp_path)
    ckpt = result.run_dir.repeat(0)
    rewind = ckpt.load_weights("rewind")
    mask1 = load_masks(ckpt.mask_file(1))
    start1 = calls[1]["state"]
    for name, value in rewind.items():
        expected = value * mask1[name] if name in mask1 else value
        assert torch.equal(start1[name], expected), name
    assert calls[0]["epochs"] == [0, 1, 2] and calls[1]["epochs"] == calls[2]["epochs"] == [1, 2]
    # θ_k is the state after k = 1 epoch: neither the initialisation nor the trained weights
    first = "classifier.0.weight"
    assert not torch.equal(rewind[first], ckpt.load_weights("init")[first])
    assert not torch.equal(rewind[first], ckpt.load_weights("round_000")[first])


def test_lr_rewinding_keeps_trained_weights_and_replays_the_schedule(tmp_path, calls):
    cfg = tiny(training__lr_schedule="step", training__milestones=[2], training__lr=0.01,
               algorithm__treatment="keep", algorithm__lr_policy="replay")
    result = run(cfg, cache_dir=tmp_path)
    ckpt = result.run_dir.repeat(0)
    round0 = ckpt.load_weights("round_000")
    mask1 = load_masks(ckpt.mask_file(1))
    for name, value in round0.items():
        expected = value * mask1[name] if name in mask1 else value
        assert torch.equal(calls[1]["state"][name], expected), name
    # schedule epochs 1, 2 replayed: lr 0.01 in epoch 1, 0.001 from the milestone at epoch 2 on
    assert calls[1]["lrs"] == pytest.approx([0.01] * 15 + [0.001] * 15)
    epochs = result.epochs[result.epochs["round"] == 2]
    assert epochs["lr"].tolist() == pytest.approx([0.01, 0.001])


def test_fine_tuning_trains_at_the_constant_last_lr(tmp_path, calls):
    cfg = tiny(training__lr_schedule="linear", training__lr=0.01, algorithm__treatment="keep",
               algorithm__lr_policy="ft")
    run(cfg, cache_dir=tmp_path)
    last = 0.01 * (1 - (3 - 1 / 15) / 3)        # linear schedule at its last iteration t = T - 1/n
    assert calls[1]["lrs"] == pytest.approx([last] * 30)


def test_keep_with_ft_policy_retrains_every_round_t_minus_k_epochs_at_the_last_lr(tmp_path, calls):
    # treatment "keep" + lr_policy "ft" is the old rewind = "none": every round keeps the trained
    # weights and retrains T − k = 3 − 1 = 2 epochs (T_rt, counted from position 0) at η_T
    events = []
    cfg = tiny(training__lr_schedule="linear", training__lr=0.01, algorithm__treatment="keep",
               algorithm__lr_policy={"name": "ft"})
    result = run(cfg, events.append, cache_dir=tmp_path)
    last = 0.01 * (1 - (3 - 1 / 15) / 3)        # η(T − 1/n) = 0.01 · (1/45)
    assert last == pytest.approx(0.01 / 45)
    assert len(calls) == 3
    assert calls[0]["epochs"] == [0, 1, 2]
    assert calls[0]["lrs"][0] == pytest.approx(0.01)             # round 0: the linear schedule itself
    for call in calls[1:]:
        assert call["epochs"] == [0, 1]
        assert call["lrs"] == pytest.approx([last] * 30)
    assert result.rounds["retrain_epochs"].tolist() == [3, 2, 2]
    assert result.rounds["cumulative_epochs"].tolist() == [0, 2, 4]
    assert result.epochs[result.epochs["round"] > 0]["lr"].tolist() == pytest.approx([last] * 4)
    # round 1 starts from the trained dense weights (masked), not from θ_k
    ckpt = result.run_dir.repeat(0)
    round0, mask1 = ckpt.load_weights("round_000"), load_masks(ckpt.mask_file(1))
    for name, value in round0.items():
        expected = value * mask1[name] if name in mask1 else value
        assert torch.equal(calls[1]["state"][name], expected), name
    rounds = [e for e in events if e["type"] == "round"]
    assert [e["round"] for e in rounds] == [0, 1, 2]
    assert "lr_policy" not in rounds[0]
    assert [e["lr_policy"] for e in rounds[1:]] == ["ft", "ft"]
    assert all(e["allr_d"] is None for e in rounds[1:])


def test_pruned_weights_stay_exactly_zero_after_every_step_with_momentum_and_decay(tmp_path, calls):
    cfg = tiny(training__optimizer="sgd", training__lr=0.05, training__momentum=0.9, training__nesterov=True,
               training__weight_decay=0.01, training__grad_clip=1.0, algorithm__treatment="keep",
               algorithm__lr_policy="replay")
    run(cfg, cache_dir=tmp_path)
    for call in calls[1:]:
        assert len(call["zeros"]) == 2 * 15 and all(call["zeros"])


def test_sparsity_follows_one_minus_rate_power_r(tmp_path):
    result = run(tiny(algorithm__rounds=4, training__epochs=2), cache_dir=tmp_path)
    rounds = result.rounds
    total = int(rounds["remaining_weights"].iloc[0])           # 64·300 + 300·100 + 100·10 = 50,200
    assert total == 50_200
    for r, remaining in zip(rounds["round"], rounds["remaining_weights"]):
        assert abs(remaining - total * 0.8 ** r) <= 1, (r, remaining)
    assert rounds["cumulative_epochs"].tolist() == [0, 1, 2, 3, 4]
    assert rounds["retrain_epochs"].tolist() == [2, 1, 1, 1, 1]


def test_aimp_retrains_tau_minus_k_in_intermediate_rounds(tmp_path, calls):
    cfg = tiny(training__epochs=4, algorithm__rounds=3, algorithm__partial_epochs=2)
    result = run(cfg, cache_dir=tmp_path)
    assert [c["epochs"] for c in calls] == [[0, 1, 2, 3], [1], [1], [1, 2, 3]]
    assert result.rounds["retrain_epochs"].tolist() == [4, 1, 1, 3]
    assert result.summary["totals"]["search_cost_epochs"] == 5


def test_local_scope_and_excluded_output_layer(tmp_path):
    cfg = tiny(pruner__grouping="local", pruner__output_rate=0.0, algorithm__rounds=1)
    result = run(cfg, cache_dir=tmp_path)
    layers = result.rounds["layer_sparsity"].iloc[1]
    # local: each hidden layer loses exactly ⌊0.2·n + ½⌋ weights; the output layer none
    assert layers == pytest.approx({"classifier.0.weight": 3840 / 19200, "classifier.2.weight": 6000 / 30000,
                                    "classifier.4.weight": 0.0}, abs=1e-12)


def test_cancel_keeps_finished_rounds_and_resume_gives_the_uninterrupted_result(tmp_path):
    import threading

    from pruning_core.jobs.store import JobStore
    cfg = tiny(algorithm__rounds=3)
    full = run(cfg, cache_dir=tmp_path / "a")

    cancel = threading.Event()

    def stop_after_round_1(event):
        if event["type"] == "round" and event["round"] == 1:
            cancel.set()
    partial = run(cfg, stop_after_round_1, cache_dir=tmp_path / "b", cancel=cancel)
    assert partial.status == "cancelled" and partial.rounds["round"].tolist() == [0, 1]
    resumed = run(cfg, cache_dir=tmp_path / "b", job_id=partial.job_id, resume=True)
    assert resumed.status == "finished" and resumed.rounds["round"].tolist() == [0, 1, 2, 3]
    assert resumed.rounds["test_accuracy"].tolist() == full.rounds["test_accuracy"].tolist()
    assert resumed.rounds["remaining_weights"].tolist() == full.rounds["remaining_weights"].tolist()
    events = JobStore(tmp_path / "b").events(partial.job_id)
    assert [e["from_round"] for e in events if e["type"] == "resumed"] == [1]


def test_repeats_use_consecutive_seeds_and_aggregate(tmp_path):
    result = run({**tiny(), "repeats": 2, "seed": 5}, cache_dir=tmp_path)
    assert sorted(set(result.rounds["seed"])) == [5, 6]
    per_round = result.summary["per_round"]
    assert [row["repeats"] for row in per_round] == [2, 2, 2]
    first = per_round[1]
    accs = result.rounds[result.rounds["round"] == 1]["test_accuracy"]
    assert first["test_accuracy_min"] == accs.min() and first["test_accuracy_max"] == accs.max()


def test_a_failing_run_records_its_error(tmp_path):
    from pruning_core.jobs.store import JobStore
    missing = {"name": "mnist", "data_dir": str(tmp_path / "no-data"), "download": False}
    with pytest.raises(Exception, match="dataset 'mnist' is not available"):
        run({"dataset": missing}, cache_dir=tmp_path)
    job = JobStore(tmp_path).list_jobs()[0]
    assert job["status"] == "failed" and "mnist" in job["error"] and "Traceback" in job["traceback"]


def test_sigma_sign_reinit_restarts_each_round_from_sigma_times_sign_of_init(tmp_path, calls):
    result = run(tiny(algorithm__treatment="sigma_sign", algorithm__rounds=1), cache_dir=tmp_path)
    ckpt = result.run_dir.repeat(0)
    init, rewind = ckpt.load_weights("init"), ckpt.load_weights("rewind")
    mask1 = load_masks(ckpt.mask_file(1))
    start = calls[1]["state"]
    for name, mask in mask1.items():
        sigma = init[name].std(unbiased=False)                   # the layer's σ at initialisation
        assert torch.allclose(start[name], torch.sign(init[name]) * sigma * mask), name
    assert torch.equal(start["classifier.0.bias"], rewind["classifier.0.bias"])   # biases: θ_k
