"""ASNI (ASNI-I, ASNI-II, T1-S) and Zhu & Gupta's gradual pruning: schedules, exact counts,
centroids and the amenable initialisation, checked against hand-computed numbers."""

import math

import pytest
import torch

import pruning_core.loop as loop
from pruning_core import run
from pruning_core.amenable import amenable_state, amenable_weights, centroids
from pruning_core.config import Config, ConfigError
from pruning_core.data import load_dataset
from pruning_core.masks import load_masks, prunable_parameters
from pruning_core.models import build_model
from pruning_core.pruners.counting import prune_to_sparsity
from pruning_core.pruners.pruner import make_pruner
from pruning_core.schedules import sigmoid_schedule
from pruning_core.train import evaluate

N = 50_200                                # LeNet-300-100 on digits: 64·300 + 300·100 + 100·10 weights
ASNI = {"algorithm": {"name": "asni", "schedule": {"name": "sigmoid", "target_sparsity": 0.8}},
        "training": {"epochs": 4, "batch_size": 200}}


# ---- schedules -------------------------------------------------------------------------------

def test_sigmoid_sparsities_per_epoch_are_exact():
    # p_e = 0.8 / (1 + exp(-(e - 5))) for E = 10, β = 0.5 (βE = 5), γ = 1, α = 0.8:
    # σ(-4..5) = .0179862100, .0474258732, .1192029220, .2689414214, .5,
    #            .7310585786, .8807970780, .9525741268, .9820137900, .9933071491
    expected = [0.0143889680, 0.0379406985, 0.0953623376, 0.2151531371, 0.4,
                0.5848468629, 0.7046376624, 0.7620593015, 0.7856110320, 0.7946457193]
    config = Config.from_dict({"algorithm": {"name": "asni", "schedule": {
        "name": "sigmoid", "target_sparsity": None, "alpha": 0.8, "beta": 0.5, "gamma": 1.0}},
        "training": {"epochs": 10}})
    assert config.algorithm.schedule.sparsities(10) == pytest.approx(expected, abs=1e-10)
    assert config.plan().sparsity() == pytest.approx(expected, abs=1e-10)       # ASNI-I's rounds 1..10
    assert sigmoid_schedule(0.8, 0.5, 1.0, 10) == pytest.approx(expected, abs=1e-10)
    # symmetric about the inflection point e = βE: p_{5-k} + p_{5+k} = α
    assert [expected[4 - k] + expected[4 + k] for k in range(1, 5)] == pytest.approx([0.8] * 4, abs=1e-10)


@pytest.mark.parametrize("epochs, gamma, beta", [(4, None, 0.5), (10, 1.0, 0.5), (90, None, 0.5), (20, 3.0, 0.3)])
def test_alpha_solved_from_the_target_hits_it_at_the_last_epoch(epochs, gamma, beta):
    config = Config.from_dict({"algorithm": {"name": "asni", "schedule": {
        "name": "sigmoid", "target_sparsity": 0.8, "gamma": gamma, "beta": beta}}, "training": {"epochs": epochs}})
    schedule = config.algorithm.schedule
    g = gamma if gamma is not None else epochs / 10             # default γ = E/10
    assert schedule.alpha_for(epochs) == pytest.approx(0.8 * (1 + math.exp(-(1 - beta) * epochs / g)), rel=1e-12)
    assert schedule.sparsities(epochs)[-1] == pytest.approx(0.8, abs=1e-12)
    # the paper's default (β = 0.5, γ = E/10): α = s · (1 + e^-5) for every E
    if gamma is None and beta == 0.5:
        assert schedule.alpha_for(epochs) == pytest.approx(0.8 * 1.006737947, rel=1e-9)


def test_polynomial_sparsities_per_epoch_are_exact():
    # s_e = 0.8 (1 - (1 - e/6)^3), t0 = 0, t_end = ⌈3·8/4⌉ = 6, then 0.8:
    # 0.8·91/216, 0.8·152/216, 0.8·189/216, 0.8·208/216, 0.8·215/216, 0.8, 0.8, 0.8
    config = Config.from_dict({"algorithm": {"name": "gradual", "schedule": {"name": "polynomial",
                                                                             "target_sparsity": 0.8}},
                               "training": {"epochs": 8}})
    expected = [0.8 * k / 216 for k in (91, 152, 189, 208, 215, 216)] + [0.8, 0.8]
    assert config.algorithm.schedule.end_for(8) == 6
    assert config.algorithm.schedule.sparsities(8) == pytest.approx(expected, abs=1e-12)
    assert config.plan().sparsity() == pytest.approx(expected, abs=1e-12)


# ---- exact-count pruning ---------------------------------------------------------------------

def test_prune_to_sparsity_counts_exactly_breaks_ties_earlier_first_and_never_regrows():
    scores = {"a": torch.tensor([0.4, 0.1, 0.3, 0.1]), "b": torch.tensor([0.1, 0.5, 0.05, 0.6])}
    masks = {"a": torch.ones(4, dtype=torch.bool), "b": torch.tensor([True, True, False, True])}
    groups = [("a", "b")]
    # p = 0.375 of n = 8: ⌊3 + ½⌋ = 3 pruned, 1 already → 2 more among three tied at 0.1: a[1], a[3]
    m1 = prune_to_sparsity(scores, masks, groups, 0.375)
    assert m1["a"].tolist() == [True, False, True, False] and m1["b"].tolist() == [True, True, False, True]
    m2 = prune_to_sparsity(scores, m1, groups, 0.5)             # 4 pruned: b[0] next
    assert m2["b"].tolist() == [False, True, False, True]
    assert prune_to_sparsity(scores, m2, groups, 0.3)["a"].tolist() == m2["a"].tolist()   # lower: no regrowth
    m3 = prune_to_sparsity(scores, m2, groups, 0.6)             # ⌊4.8 + ½⌋ = 5: a[2] (0.3)
    assert m3["a"].tolist() == [True, False, False, False] and masks["a"].all()          # input untouched
    # local scope: each layer reaches p on its own (a: 2 of 4; b: 2 of 4, one already)
    local = prune_to_sparsity(scores, masks, [("a",), ("b",)], 0.5)
    assert local["a"].tolist() == [True, False, True, False] and local["b"].tolist() == [False, True, False, True]


def test_prune_to_sparsity_hits_the_rounded_count_at_every_step():
    gen = torch.Generator().manual_seed(0)
    scores = {"x": torch.rand(1001, generator=gen), "y": torch.rand(10, 10, generator=gen)}
    masks = {k: torch.ones_like(v, dtype=torch.bool) for k, v in scores.items()}
    for p in [0.0005, 0.1, 0.25, 0.3333, 0.5, 0.7, 0.9, 0.99]:
        new = prune_to_sparsity(scores, masks, [("x", "y")], p)
        assert sum(int(m.sum()) for m in new.values()) == 1101 - math.floor(p * 1101 + 0.5)
        assert all(bool((new[k] <= masks[k]).all()) for k in masks)
        masks = new


# ---- centroids and the amenable initialisation -----------------------------------------------

def test_centroids_and_amenable_weights_on_a_hand_tensor():
    w = {"l": torch.tensor([0.5, -0.2, 9.0, 0.3, -0.6]), "pos": torch.tensor([0.1, 0.3, -5.0, 0.0])}
    m = {"l": torch.tensor([1, 1, 0, 1, 1], dtype=torch.bool), "pos": torch.tensor([1, 1, 0, 1], dtype=torch.bool)}
    c = centroids(w, m)
    assert c["l"] == pytest.approx({"c_plus": 0.4, "c_minus": -0.4})        # (0.5 + 0.3)/2, (-0.2 - 0.6)/2
    assert c["pos"]["c_plus"] == pytest.approx(0.2) and c["pos"]["c_minus"] is None   # no negative survivor
    init = amenable_weights(w, m, c)
    assert init["l"].tolist() == pytest.approx([0.4, -0.4, 0.0, 0.4, -0.4])
    assert init["pos"].tolist() == pytest.approx([0.2, 0.2, 0.0, 0.0])     # alive 0.0 starts at 0


@pytest.mark.parametrize("name", ["resnet20", "lenet300_100"])
def test_amenable_state_two_values_per_layer_biases_zero_batch_norm_one(name):
    model = build_model(name, in_channels=1, num_classes=10, input_size=(8, 8))
    init = {k: v.clone() for k, v in model.state_dict().items()}
    params = prunable_parameters(model)
    gen = torch.Generator().manual_seed(1)
    masks = {k: torch.rand(p.shape, generator=gen) < 0.3 for k, p in params.items()}
    theta = {k: torch.randn(p.shape, generator=gen) * masks[k] for k, p in params.items()}
    cents = centroids(theta, masks)
    state = amenable_state(model, init, theta, masks, cents)
    for k, m in masks.items():
        s, c = state[k], cents[k]
        assert c["c_plus"] > 0 and c["c_minus"] < 0
        assert torch.equal(s[theta[k] > 0], torch.full_like(s[theta[k] > 0], c["c_plus"]))
        assert torch.equal(s[theta[k] < 0], torch.full_like(s[theta[k] < 0], c["c_minus"]))
        assert not s[~m].any()
    others = [k for k in state if k not in masks]
    assert others and all(k.split(".")[-1] in ("bias", "weight", "running_mean", "running_var",
                                                "num_batches_tracked") for k in others)
    for k in others:
        if k.endswith("bias"):
            assert not state[k].any(), k
        elif k.endswith("weight"):                               # batch norm γ
            assert (state[k] == 1).all(), k
        else:
            assert torch.equal(state[k], init[k]), k
    # only conv/linear weights are ever ranked: biases and batch norm are in no group
    pruner = make_pruner(Config.from_dict({"model": {"name": name}, "algorithm": {"name": "asni"}}), model)
    groups = [names for names, _ in pruner.groups(1.0)]
    assert len(groups) == 1 and set(groups[0]) == set(params) and all(k.endswith("weight") for k in groups[0])
    assert set(pruner.target_layers()) == set(params)


@pytest.mark.parametrize("name", ["gradual", "asni"])
@pytest.mark.parametrize("pruner, field", [({"output_rate": 0.5}, "pruner.output_rate"),
                                           ({"grouping": "local", "conv_rate": 0.1}, "pruner.conv_rate"),
                                           ({"grouping": "local", "dense_rate": 0.2}, "pruner.dense_rate")])
def test_a_per_round_rate_has_no_meaning_on_a_sparsity_schedule(name, pruner, field):
    # per-round rates only null (the schedule's sparsity) or 0 (leave those layers dense)
    # a model with convs: lenet300_100 with dense_rate 0 and local grouping would prune nothing at all
    model_name = {"model": {"name": "conv2"}} if field in ("pruner.conv_rate", "pruner.dense_rate") else {}
    with pytest.raises(ConfigError) as err:
        Config.from_dict({"algorithm": {"name": name}, "pruner": pruner, **model_name})
    assert [e.field for e in err.value.errors] == [field]
    zero = {k: (0.0 if k.endswith("rate") else v) for k, v in pruner.items()}
    config = Config.from_dict({"algorithm": {"name": name}, "pruner": zero, **model_name})
    assert getattr(config.pruner, field.split(".")[1]) == 0.0
    if field == "pruner.output_rate":                     # 0 leaves the output layer dense: no target
        model = build_model("lenet300_100", in_channels=1, num_classes=10, input_size=(8, 8))
        assert make_pruner(config, model).target_layers() == ["classifier.0.weight", "classifier.2.weight"]


# ---- a real ASNI run on digits ---------------------------------------------------------------

@pytest.fixture(scope="module")
def asni_run(tmp_path_factory):
    """One ASNI run (E = 4, s = 0.8, ASNI-II and T1-S), recording every train_epochs call's start,
    and θ̂*, the weights ASNI-I ends with (the network as recorded by round 4)."""
    calls, events, models, final = [], [], [], {}
    real = loop.train_epochs

    def spy(model, data, cfg, schedule_epochs, lr_at, generator, *, optimizer=None, **kw):
        models.append(model)
        calls.append({"state": {k: v.detach().clone() for k, v in model.state_dict().items()},
                      "epochs": list(schedule_epochs), "optimizer": optimizer})
        return real(model, data, cfg, schedule_epochs, lr_at, generator, optimizer=optimizer, **kw)

    def on_event(event):
        events.append(event)
        if event["type"] == "round" and event["round"] == 4:   # ASNI-I's last epoch, pruned and recorded
            final.update({k: v.detach().clone() for k, v in models[-1].state_dict().items()})

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loop, "train_epochs", spy)
        result = run(ASNI, on_event, cache_dir=tmp_path_factory.mktemp("asni"))
    assert final and all(m is models[0] for m in models)
    return result, calls, events, final


def test_asni_i_prunes_exactly_to_each_epochs_sparsity_without_regrowth(asni_run):
    result, calls, events, final = asni_run
    p = Config.from_dict(ASNI).algorithm.schedule.sparsities(4)  # α = 0.8(1 + e^-5), γ = 0.4
    assert p == pytest.approx([0.0610954467, 0.4026951788, 0.7442949109, 0.8], abs=1e-9)
    remaining = [N - math.floor(x * N + 0.5) for x in p]
    assert remaining == [47_133, 29_985, 12_836, 10_040] == [round(N * (1 - x)) for x in p]
    rounds = result.rounds
    assert rounds["round"].tolist() == [1, 2, 3, 4, 5, 6]                    # no untrained round 0
    assert rounds["remaining_weights"].tolist() == remaining + [10_040, 10_040]
    assert rounds["retrain_epochs"].tolist() == [1, 1, 1, 1, 4, 4]
    assert rounds["cumulative_epochs"].tolist() == [1, 2, 3, 4, 8, 8]
    ckpt = result.run_dir.repeat(0)
    previous = None
    for r in range(1, 7):
        masks = load_masks(ckpt.mask_file(r))
        assert set(masks) == {"classifier.0.weight", "classifier.2.weight", "classifier.4.weight"}
        if previous is not None:
            assert all(bool((masks[k] <= previous[k]).all()) for k in masks), r          # m_e ⊆ m_{e-1}
        previous = masks
    # each epoch trains at the sparsity reached after the previous one (0 first), one optimizer
    asni_epochs = result.epochs[result.epochs["round"] <= 4]
    assert asni_epochs["sparsity"].tolist() == pytest.approx([0.0] + [1 - n / N for n in remaining[:3]], abs=1e-12)
    assert [c["epochs"] for c in calls] == [[0], [1], [2], [3], [0, 1, 2, 3], [0, 1, 2, 3]]
    assert calls[0]["optimizer"] is not None and all(c["optimizer"] is calls[0]["optimizer"] for c in calls[:4])
    assert calls[4]["optimizer"] is None and calls[5]["optimizer"] is None              # trained from scratch
    # biases are never pruned (and never zeroed) by ASNI-I
    assert all(bool(final[f"classifier.{i}.bias"].ne(0).all()) for i in (0, 2, 4))


def test_reported_asni_i_accuracy_is_the_final_pruned_network(asni_run):
    result, _, events, final = asni_run
    ckpt = result.run_dir.repeat(0)
    model = build_model("lenet300_100", in_channels=1, num_classes=10, input_size=(8, 8))
    model.load_state_dict(final)
    masks = load_masks(ckpt.mask_file(4))
    assert all(not model.state_dict()[k][~m].any() for k, m in masks.items())
    _, accuracy = evaluate(model, load_dataset("digits"), result.config.training.eval_batch_size)
    round4 = [e for e in events if e["type"] == "round" and e["round"] == 4][0]
    assert round4["test_accuracy"] == accuracy and round4["variant"] == "ASNI-I"
    assert "test_accuracy_before_pruning" in round4 and round4["planned_sparsity"] == pytest.approx(0.8)


def test_asni_ii_starts_from_two_centroids_and_t1_s_from_the_original_init(asni_run):
    result, calls, events, final = asni_run
    ckpt = result.run_dir.repeat(0)
    theta_star, init = final, ckpt.load_weights("init")
    masks = load_masks(ckpt.mask_file(4))
    summary = [e for e in events if e["type"] == "asni_summary"][0]
    amenable, control = calls[4]["state"], calls[5]["state"]
    for k, m in masks.items():
        c = summary["centroids"][k]
        w = theta_star[k][m]
        assert c["c_plus"] == pytest.approx(float(w[w > 0].mean()))
        assert c["c_minus"] == pytest.approx(float(w[w < 0].mean()))
        pos, neg = amenable[k][theta_star[k] > 0], amenable[k][theta_star[k] < 0]
        assert torch.equal(pos, torch.full_like(pos, c["c_plus"])) and c["c_plus"] > 0
        assert torch.equal(neg, torch.full_like(neg, c["c_minus"])) and c["c_minus"] < 0
        assert not amenable[k][~m].any() and len(torch.unique(amenable[k][m])) == 2
        assert torch.equal(control[k], init[k] * m)                                       # T1-S: θ₀ ⊙ m
    for i in (0, 2, 4):
        assert not amenable[f"classifier.{i}.bias"].any()                                 # paper: biases 0
        assert torch.equal(control[f"classifier.{i}.bias"], init[f"classifier.{i}.bias"])
    variants = [e["variant"] for e in events if e["type"] == "round"]
    assert variants == ["ASNI-I"] * 4 + ["ASNI-II", "original-init"]
    accuracy = {e["round"]: e["test_accuracy"] for e in events if e["type"] == "round"}
    assert (summary["t1_a_i"], summary["t1_a_ii"], summary["t1_s"]) == (accuracy[4], accuracy[5], accuracy[6])
    assert summary["t1_d"] is None and summary["final_sparsity"] == pytest.approx(0.8, abs=1e-12)
    assert summary["alpha"] == pytest.approx(0.8 * (1 + math.exp(-5)))
    assert result.summary["totals"]["epochs_trained"] == result.config.plan().total_epochs() == 12


# ---- gradual (Zhu & Gupta) and resume ----------------------------------------------------------

def test_gradual_counts_and_resume_after_cancel_equals_the_uninterrupted_run(tmp_path):
    import threading

    from pruning_core.jobs.store import JobStore

    cfg = {"algorithm": {"name": "gradual", "schedule": {"name": "polynomial", "target_sparsity": 0.5}},
           "training": {"epochs": 3, "batch_size": 200}}
    full = run(cfg, cache_dir=tmp_path / "a")
    # t0 = 0, t_end = ⌈3·3/4⌉ = 3: s = 0.5(1 - (2/3)^3), 0.5(1 - (1/3)^3), 0.5 = 0.5·19/27, 0.5·26/27, 0.5
    # → ⌊sN + ½⌋ = 17,663, 24,170, 25,100 pruned
    assert full.rounds["remaining_weights"].tolist() == [32_537, 26_030, 25_100]
    assert full.rounds["round"].tolist() == [1, 2, 3] and full.rounds["cumulative_epochs"].tolist() == [1, 2, 3]
    events = JobStore(tmp_path / "a").events(full.job_id)
    assert {e.get("variant") for e in events if e["type"] == "round"} == {"gradual"}
    assert not any(e["type"] == "asni_summary" for e in events)

    cancel = threading.Event()
    partial = run(cfg, lambda e: e["type"] == "round" and e["round"] == 1 and cancel.set(),
                  cache_dir=tmp_path / "b", cancel=cancel)
    assert partial.status == "cancelled" and partial.rounds["round"].tolist() == [1]
    resumed = run(cfg, cache_dir=tmp_path / "b", job_id=partial.job_id, resume=True)
    assert resumed.status == "finished" and resumed.rounds["round"].tolist() == [1, 2, 3]
    assert resumed.rounds["test_accuracy"].tolist() == full.rounds["test_accuracy"].tolist()
    assert resumed.epochs["train_loss"].tolist() == full.epochs["train_loss"].tolist()
    # continued after round 1 with the saved optimizer state (not restarted from scratch)
    resumes = [e for e in JobStore(tmp_path / "b").events(partial.job_id) if e["type"] == "resumed"]
    assert [(e["from_round"], e.get("restarted")) for e in resumes] == [(1, None)]
