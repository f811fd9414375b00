"""Config: defaults, errors that name the field, plug-in choices with their own options, refused
inactive values, suggested defaults, overrides, TOML, hashing, and the epoch accounting of plans."""

import json
import tomllib

import pytest

from pruning_core.config import Config, ConfigError, applies, field_specs, load_config, to_toml
from pruning_core.registry import DATASETS, MODELS


def test_defaults_are_valid_and_reproduce_the_iap_lenet_setting():
    c = Config.from_dict({})
    assert (c.model.name, c.training.optimizer, c.training.lr, c.training.batch_size) == \
        ("lenet300_100", "nadam", 1.2e-3, 60)
    assert (c.training.epochs, c.algorithm.rewind_epoch, c.training.weight_decay) == (6, 5, 1e-4)
    assert (c.algorithm.plugin_name, c.pruner.score.plugin_name, c.pruner.unit) == ("imp", "magnitude", "weight")
    assert Config.from_dict(c.to_dict()) == c
    assert c.to_dict()["pruner"]["score"] == {"name": "magnitude", "norm": "l1"}


def test_registry_names_match_the_torch_registries():
    from pruning_core.data import DATASETS as DATA_IMPL
    from pruning_core.models import MODELS as MODEL_IMPL
    assert list(MODELS.names()) == list(MODEL_IMPL)
    assert list(DATASETS.names()) == list(DATA_IMPL)


@pytest.mark.parametrize("data, field, allowed", [
    ({"training": {"lr": -1}}, "training.lr", "a number > 0"),
    ({"training": {"optimizer": "rmsprop"}}, "training.optimizer", "one of sgd, adam, nadam"),
    ({"algorithm": {"rate": 1.0}}, "algorithm.rate", "a number in (0, 1)"),
    ({"algorithm": {"rounds": 2.5}}, "algorithm.rounds", "an integer in [1, 200]"),
    ({"algorithm": {"rounds": True}}, "algorithm.rounds", "an integer in [1, 200]"),
    ({"model": {"name": "alexnet"}}, "model.name", "one of lenet300_100, lenet5"),
    ({"pruner": {"grouping": "layer"}}, "pruner.grouping", "one of global, local, per_type"),
    ({"pruner": {"score": "saliency"}}, "pruner.score.name", "one of magnitude, random, activation, snip, taylor"),
    ({"algorithm": {"name": "lth"}}, "algorithm.name", "one of imp, one_shot, bimp, at_init, gradual, asni"),
    ({"algorithm": {"lr_policy": {"name": "allr", "warmup_fraction": 1.5}}}, "algorithm.lr_policy.warmup_fraction",
     "a number in [0, 1)"),
    ({"training": {"milestones": [3, 2], "lr_schedule": "step"}}, "training.milestones", "increasing epochs"),
    ({"training": {"lr_schedule": "step"}}, "training.milestones", "at least one epoch"),
    ({"algorithm": {"rewind_epoch": 6}}, "algorithm.rewind_epoch", "k < training.epochs (6)"),
    ({"algorithm": {"partial_epochs": 5, "rewind_epoch": 5}}, "algorithm.partial_epochs",
     "rewind_epoch (5) < tau <= training.epochs (6)"),
    ({"device": "gpu"}, "device", "auto, cpu, cuda, cuda:N or mps"),
    ({"training": {"epochs": None}}, "training.epochs", "an integer in [1, 10000]"),
    ({"model": {"name": "resnet20"}, "dataset": {"name": "cifar10"}, "pruner": {"unit": "output_filter"}},
     "pruner.unit", "for ResNets"),
])
def test_bad_values_name_the_field_and_what_is_allowed(data, field, allowed):
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    errors = info.value.for_field(field)
    assert len(errors) == 1 and allowed in errors[0].allowed, str(info.value)
    assert field in str(info.value)


def test_unknown_keys_are_errors_listing_the_known_ones():
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"training": {"epoch": 3}, "colour": "red", "pruner": {"score": {"name": "random", "norm": "l2"}}})
    fields = sorted(e.field for e in info.value.errors)
    assert fields == ["colour", "pruner.score.norm", "training.epoch"]
    assert "epochs" in info.value.for_field("training.epoch")[0].allowed
    assert "of random" in info.value.for_field("pruner.score.norm")[0].allowed       # random has no options


def test_options_of_another_algorithm_are_unknown_keys():
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"algorithm": {"name": "gradual", "rounds": 5}})
    assert info.value.for_field("algorithm.rounds") and "gradual" in str(info.value)


def test_all_errors_are_reported_at_once():
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"training": {"lr": 0, "batch_size": 0}, "seed": -1})
    assert {e.field for e in info.value.errors} == {"training.lr", "training.batch_size", "seed"}


@pytest.mark.parametrize("data, field", [
    # the two silent cases: tau under an LR policy, T_rt under replay
    ({"training": {"epochs": 30}, "algorithm": {"rewind_epoch": 2, "partial_epochs": 10, "treatment": "keep",
                                                "lr_policy": "ft"}}, "algorithm.partial_epochs"),
    ({"algorithm": {"retrain_epochs": 5}}, "algorithm.retrain_epochs"),
    ({"pruner": {"score": {"name": "magnitude", "norm": "l2"}}}, "pruner.score.norm"),     # unstructured: no norm
    ({"training": {"momentum": 0.5}}, "training.momentum"),                               # nadam: no momentum
    ({"pruner": {"conv_rate": 0.1}}, "pruner.conv_rate"),                                 # global grouping
    ({"pruner": {"grouping": "local", "layers": "linear", "conv_rate": 0.1}}, "pruner.conv_rate"),
    ({"pruner": {"unit": "output_filter", "output_rate": 0.0}}, "pruner.output_rate"),    # classes never pruned
    ({"pruner": {"score": "activation", "selection": "threshold", "grouping": "local"}}, "pruner.grouping"),
    ({"pruner": {"selection": "threshold"}, "algorithm": {"rate": 0.5}}, "algorithm.rate"),
    ({"algorithm": {"target_sparsity": 0.9, "rate": 0.3}}, "algorithm.rate"),
    ({"algorithm": {"treatment": "keep", "lr_policy": "allr", "retrain_epochs": 2, "rewind_epoch": 3}},
     "algorithm.rewind_epoch"),                                                           # k acts on nothing
    ({"algorithm": {"rounds": 1, "partial_epochs": 6}}, "algorithm.partial_epochs"),      # no intermediate round
    ({"analysis": {"topk": 10}}, "analysis.topk"),
    ({"algorithm": {"name": "asni", "schedule": {"name": "sigmoid", "alpha": 0.5}}}, "algorithm.schedule.alpha"),
    ({"algorithm": {"name": "gradual"}, "pruner": {"grouping": "local", "conv_rate": 0.3}}, "pruner.conv_rate"),
    ({"training": {"optimizer": "sgd", "momentum": 0.0, "nesterov": True}}, "training.nesterov"),
    # LeNet-300-100 has no conv layer: fc-only is everything, per_type is global, hybrid is by weight
    ({"pruner": {"layers": "linear"}}, "pruner.layers"),
    ({"pruner": {"grouping": "per_type"}}, "pruner.grouping"),
    ({"pruner": {"unit": "hybrid"}}, "pruner.unit"),
    ({"model": {"name": "conv2"}, "pruner": {"grouping": "per_type", "layers": "conv"}}, "pruner.grouping"),
    ({"model": {"name": "conv2"}, "pruner": {"unit": "hybrid", "grouping": "per_type"}}, "pruner.grouping"),
    # BIMP's own schedule replaces the training schedule; AIAP's λ never acts before round s
    ({"algorithm": {"name": "bimp"}, "training": {"lr_schedule": "cosine"}}, "training.lr_schedule"),
    ({"pruner": {"selection": {"name": "threshold", "step": 0.5}}, "algorithm": {"rounds": 3}}, "pruner.selection.step"),
])
def test_a_value_that_would_not_act_is_refused_with_the_reason(data, field):
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    assert info.value.for_field(field), str(info.value)


def test_the_same_values_act_where_they_can():
    assert Config.from_dict({"model": {"name": "conv2"}, "pruner": {"grouping": "per_type"}}).pruner.grouping == "per_type"
    assert Config.from_dict({"model": {"name": "conv2"}, "pruner": {"unit": "hybrid", "grouping": "per_type",
                                                                    "conv_rate": 0.1}}).pruner.conv_rate == 0.1
    assert Config.from_dict({"pruner": {"selection": {"name": "threshold", "step": 0.5}},
                             "algorithm": {"rounds": 4}}).pruner.selection.step == 0.5


def test_choosing_a_method_picks_its_valid_defaults():
    iap = Config.from_dict({"pruner": {"score": "activation"}})
    assert (iap.pruner.unit, iap.pruner.grouping) == ("output_filter", "local")
    aiap = Config.from_dict({"pruner": {"score": "activation", "selection": "threshold"}})
    assert aiap.pruner.unit == "output_filter" and aiap.pruner.grouping == "global"   # grouping does not act: left
    snip = Config.from_dict({"pruner": {"score": "snip"}, "algorithm": {"name": "at_init"}})
    assert snip.pruner.unit == "weight"
    with pytest.raises(ConfigError) as info:                # given explicitly, a conflicting value is an error
        Config.from_dict({"pruner": {"score": "activation", "unit": "weight"}})
    assert "output_filter for the activation score" in info.value.for_field("pruner.unit")[0].allowed


def test_overrides_parse_json_values_plain_strings_and_plugin_choices(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[training]\nepochs = 8\n[algorithm]\nrounds = 2\n[pruner.score]\nname = "magnitude"\n')
    c = load_config(path, ["algorithm.rounds=5", "training.optimizer=sgd", "training.milestones=[2, 4]",
                           "training.lr_schedule=step", "pruner.output_rate=null", "algorithm.partial_epochs=7",
                           "pruner.score=random"])
    assert (c.training.epochs, c.algorithm.rounds, c.training.optimizer) == (8, 5, "sgd")
    assert c.training.milestones == [2, 4] and c.algorithm.partial_epochs == 7
    assert c.pruner.score.plugin_name == "random"
    c = load_config(None, ["pruner.score=activation", "pruner.score.batch=128"])
    assert c.pruner.score.batch == 128
    c = load_config(None, ["algorithm.lr_policy.name=allr", "algorithm.lr_policy.warmup_fraction=0.2",
                           "algorithm.treatment=keep"])
    assert (c.algorithm.lr_policy.plugin_name, c.algorithm.lr_policy.warmup_fraction) == ("allr", 0.2)
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"seed": 3}))
    assert load_config(js).seed == 3
    with pytest.raises(ConfigError, match="--set"):
        load_config(None, ["algorithm.rounds"])
    with pytest.raises(ConfigError, match="training.epochs"):
        load_config(None, ["training.epochs=many"])


def test_toml_round_trip_with_plugin_tables():
    c = Config.from_dict({"training": {"milestones": [2, 4], "lr_schedule": "step"}, "repeats": 2,
                          "algorithm": {"treatment": "keep", "lr_policy": {"name": "clr", "warmup_fraction": 0.25}},
                          "pruner": {"score": {"name": "magnitude", "norm": "l2"}, "unit": "input_channel"}})
    text = to_toml(c)
    assert "[algorithm.lr_policy]" in text and "[pruner.score]" in text
    assert Config.from_dict(tomllib.loads(text)) == c


def test_hash_names_the_experiment_not_the_machine():
    a = Config()
    same = Config.from_dict({"device": "cpu", "training": {"eval_batch_size": 7},
                             "dataset": {"data_dir": "/elsewhere", "download": False}})
    assert a.hash() == same.hash()
    assert a.hash() != a.replace(**{"seed": 1}).hash()
    assert a.hash() != a.replace(**{"pruner.score": "random"}).hash()
    assert len(a.hash()) == 64


def test_target_sparsity_gives_the_per_round_rate():
    c = Config.from_dict({"algorithm": {"rounds": 4, "target_sparsity": 0.9375}})
    assert c.plan().rate == pytest.approx(0.5)           # 1 - (1 - 0.9375)^(1/4) = 1 - 0.5
    assert c.plan().sparsity() == pytest.approx([0, 0.5, 0.75, 0.875, 0.9375])


def test_aimp_epoch_accounting_matches_the_paper():
    # T = 30, k = 2, tau = 10, 5 rounds: WR retrains 4 * (10 - 2) + (30 - 2) = 60 vs IMP's 5 * 28 = 140.
    imp = Config.from_dict({"training": {"epochs": 30}, "algorithm": {"rounds": 5, "rewind_epoch": 2}})
    aimp = imp.replace(**{"algorithm.partial_epochs": 10})
    assert [r.epochs for r in aimp.plan().rounds] == [30, 8, 8, 8, 8, 28]
    assert [r.lr.start for r in aimp.plan().rounds] == [0, 2, 2, 2, 2, 2]
    assert (aimp.plan().search_cost(), imp.plan().search_cost()) == (60, 140)
    assert [r.cumulative for r in aimp.plan().rounds] == [0, 8, 16, 24, 32, 60]
    # AIMP paper, Table I: T = 160, 20 iterations; counting as 19 * tau + 160 (k = 0): tau = 50 -> 1110.
    paper = Config.from_dict({"training": {"epochs": 160}, "algorithm": {"rounds": 20, "rewind_epoch": 0,
                                                                         "partial_epochs": 50}})
    assert paper.plan().search_cost() == 1110
    assert paper.replace(**{"algorithm.partial_epochs": None}).plan().search_cost() == 3200


@pytest.mark.parametrize("algorithm, rounds, epochs, search, total", [
    ({"name": "one_shot", "rate": 0.5}, [0, 1], [6, 1], 1, 7),
    ({"name": "one_shot", "treatment": "keep", "lr_policy": "ft", "retrain_epochs": 3}, [0, 1], [6, 3], 3, 9),
    ({"name": "bimp", "rounds": 3, "dense_epochs": 2}, [0, 1, 2, 3], [2, 1, 1, 2], 4, 6),   # ⌊4/3⌋ = 1, last 4 − 2
    ({"name": "at_init"}, [1], [6], 6, 6),
    ({"name": "gradual"}, [1, 2, 3, 4, 5, 6], [1] * 6, 6, 6),
    ({"name": "asni"}, [1, 2, 3, 4, 5, 6, 7, 8], [1] * 6 + [6, 6], 6, 18),   # ASNI-II and control: E each
    ({"name": "asni", "amenable": False}, [1, 2, 3, 4, 5, 6], [1] * 6, 6, 6),
])
def test_plans_say_every_round_and_its_epochs(algorithm, rounds, epochs, search, total):
    plan = Config.from_dict({"algorithm": algorithm}).plan()
    assert [r.index for r in plan.rounds] == rounds and [r.epochs for r in plan.rounds] == epochs
    assert (plan.search_cost(), plan.total_epochs()) == (search, total)


def test_field_specs_follow_the_chosen_plugins_and_carry_when_conditions():
    specs = {s.path: s for s in field_specs()}
    assert specs["training.optimizer"].choices == ("sgd", "adam", "nadam")
    assert specs["algorithm.partial_epochs"].optional and specs["algorithm.partial_epochs"].type == "int"
    assert specs["pruner.score.name"].plugin == "score" and "snip" in specs["pruner.score.name"].choice_help
    assert "algorithm.schedule.name" not in specs
    momentum = specs["training.momentum"]
    assert not applies(momentum, {"training.optimizer": "adam"}) and applies(momentum, {"training.optimizer": "sgd"})
    retrain = specs["algorithm.retrain_epochs"]                 # any policy but replay (plug-ins included)
    assert applies(retrain, {"algorithm.lr_policy.name": "some_plugin"})
    assert not applies(retrain, {"algorithm.lr_policy.name": "replay"})
    asni = {s.path for s in field_specs(values={"algorithm.name": "asni"})}
    assert {"algorithm.schedule.name", "algorithm.schedule.beta", "algorithm.amenable"} <= asni
    assert "algorithm.rounds" not in asni
    allr = {s.path for s in field_specs(values={"algorithm.lr_policy.name": "allr"})}
    assert "algorithm.lr_policy.warmup_fraction" in allr


def test_a_first_release_config_is_read_into_the_new_layout():
    legacy = {"pruner": {"method": "aiap", "structure": "filters", "aiap_lambda": 0.05, "scope": "global"},
              "algorithm": {"rounds": 10, "rewind": "weights", "rewind_epoch": 5, "lr_policy": "allr"}}
    c = Config.from_dict(legacy)
    assert (c.pruner.score.plugin_name, c.pruner.unit, c.pruner.selection.plugin_name) == \
        ("activation", "output_filter", "threshold")
    assert c.pruner.selection.step == 0.05
    assert (c.algorithm.treatment, c.algorithm.lr_policy.plugin_name) == ("rewind", "replay")   # lr_policy was ignored
    ft = Config.from_dict({"algorithm": {"name": "one_shot", "rate": 0.9, "rewind": "none", "retrain_epochs": 4}})
    assert (ft.algorithm.treatment, ft.algorithm.lr_policy.plugin_name, ft.algorithm.retrain_epochs) == \
        ("keep", "ft", None)                                # retrain_epochs was ignored without a policy
    asni = Config.from_dict({"algorithm": {"name": "asni", "sigmoid_alpha": 0.7, "sigmoid_gamma": 1.0}})
    assert (asni.algorithm.schedule.alpha, asni.algorithm.schedule.target_sparsity) == (0.7, None)
    with pytest.raises(ConfigError, match="algorithm.partial_epochs"):
        Config.from_dict({"algorithm": {"rewind": "none", "partial_epochs": 6, "rewind_epoch": 2}})


# ---- issue 8, defect 9: no traceback from any input, no accepted nonsense ----------------------

def _nested(depth: int, kind: str = "list"):
    value = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


@pytest.mark.parametrize("data, field", [
    ({"training": {"lr": 10**400}}, "training.lr"),                         # OverflowError in float()
    ({"pruner": {"output_rate": -10**400}}, "pruner.output_rate"),
    ({"algorithm": {"name": "one_shot", "rewind": "none", "target_sparsity": 10**400}}, "algorithm.target_sparsity"),
])
def test_an_integer_beyond_the_float_range_is_a_config_error(data, field):
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    assert info.value.for_field(field) and len(str(info.value)) < 400        # the value is shown cut short


@pytest.mark.parametrize("data, field", [
    ({"training": {"milestones": _nested(5000)}}, "training.milestones"),
    ({"training": _nested(5000, "dict")}, "training"),
    (_nested(5000, "dict"), "a"),
    ({"pruner": {"score": {"name": "magnitude", "norm": _nested(20)}}}, "pruner.score.norm"),
])
def test_deep_nesting_is_a_config_error_naming_where(data, field):
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    (error,) = info.value.errors
    assert error.field.startswith(field) and "nested at most 16 levels" in error.allowed
    assert "[[[...]]]" in str(info.value) or "{...}" in str(info.value)


def test_seeds_stay_within_torchs_generator():
    assert Config.from_dict({"seed": 2**32 - 1}).seed == 2**32 - 1
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"seed": 2**32})
    assert "an integer in [0, 4294967295]" in info.value.for_field("seed")[0].allowed
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"seed": 2**32 - 2, "repeats": 3})             # repeat 2 would use 2**32
    assert "at most 2 with seed 4294967294" in info.value.for_field("repeats")[0].allowed
    assert Config.from_dict({"seed": 2**32 - 2, "repeats": 2}).repeats == 2


@pytest.mark.parametrize("device", ["cuda:٣", "cuda:00", "cuda:1\n", "cuda:", "cuda:-1", "cuda:99999", " cpu",
                                    "CPU", "cuda:1 "])
def test_device_names_are_ascii_and_what_torch_parses(device):
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"device": device})
    assert "cuda:N" in info.value.for_field("device")[0].allowed


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_valid_device_names_are_accepted(device):
    assert Config.from_dict({"device": device}).device == device


def test_an_absurd_plan_is_refused_with_its_size():
    with pytest.raises(ConfigError) as info:       # the 201,000,000 epochs, give or take
        Config.from_dict({"training": {"epochs": 10_000}, "algorithm": {"rounds": 200}, "repeats": 100})
    allowed = info.value.for_field("training.epochs")[0].allowed
    assert "at most 100000 epochs" in allowed and "200900000" in allowed and "× 100 repeats" in allowed
    ok = Config.from_dict({"training": {"epochs": 100}, "algorithm": {"rounds": 9, "rewind_epoch": 0}, "repeats": 100})
    assert ok.plan().total_epochs() * ok.repeats == 100_000                 # the limit itself is allowed


@pytest.mark.parametrize("data, field", [
    ({"algorithm": {"treatment": "keep", "lr_policy": "ft", "retrain_epochs": 10**6}}, "algorithm.retrain_epochs"),
    ({"pruner": {"score": {"name": "activation", "batch": 10**9}}}, "pruner.score.batch"),
    ({"training": {"eval_batch_size": 10**7}}, "training.eval_batch_size"),
    ({"analysis": {"mask_dynamics": True, "topk": 10**12}}, "analysis.topk"),
])
def test_integers_without_a_declared_bound_have_a_sane_one(data, field):
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    assert "an integer in [" in info.value.for_field(field)[0].allowed


def test_field_specs_carry_the_integer_ceiling():
    specs = {s.path: s for s in field_specs(values={"algorithm.lr_policy.name": "ft"})}
    assert specs["algorithm.retrain_epochs"].high == 100_000 and specs["seed"].high == 2**32 - 1
    assert specs["training.lr"].high is None                     # floats: finite, no invented ceiling


@pytest.mark.parametrize("data, field", [
    ({"pruner": {"layers": "conv"}}, "pruner.layers"),                              # LeNet-300-100: no conv
    ({"model": {"name": "vgg11"}, "pruner": {"layers": "linear", "unit": "output_filter"}}, "pruner.layers"),
    ({"model": {"name": "vgg16"}, "pruner": {"layers": "linear", "output_rate": 0.0}}, "pruner.output_rate"),
    ({"model": {"name": "resnet20"}, "pruner": {"layers": "linear", "output_rate": 0.0}}, "pruner.output_rate"),
    ({"model": {"name": "conv2"}, "pruner": {"layers": "conv", "grouping": "local", "conv_rate": 0.0}},
     "pruner.conv_rate"),
    ({"model": {"name": "conv4"}, "pruner": {"grouping": "local", "conv_rate": 0.0, "dense_rate": 0.0}},
     "pruner.conv_rate"),
    ({"pruner": {"grouping": "local", "dense_rate": 0.0}}, "pruner.dense_rate"),
])
def test_a_pruner_that_prunes_nothing_is_refused(data, field):
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    assert info.value.for_field(field), str(info.value)
    assert "layer to prune" in str(info.value) or "has no conv layer" in str(info.value)


def test_a_pruner_that_prunes_something_is_accepted():
    Config.from_dict({"model": {"name": "conv2"}, "pruner": {"grouping": "local", "conv_rate": 0.0, "dense_rate": 0.0,
                                                            "output_rate": 0.1}})
    Config.from_dict({"model": {"name": "vgg11"}, "dataset": {"name": "cifar10"}, "pruner": {"layers": "linear"}})
    Config.from_dict({"model": {"name": "conv2"}, "pruner": {"layers": "conv", "unit": "output_filter"}})


def test_what_the_config_says_is_pruned_is_what_the_torch_pruner_prunes():
    """config.layers (torch-free) against the real pruner on every built-in model: the kinds of
    layer with a group rate > 0 (the output layer apart), over layers × unit × rates."""
    import dataclasses
    import itertools

    from pruning_core.catalog import SKIP_CONNECTIONS
    from pruning_core.config.layers import BUILTIN_MODELS, pruned_kinds
    from pruning_core.models import build_model
    from pruning_core.pruners.pruner import make_pruner

    assert set(BUILTIN_MODELS) == set(MODELS.names())
    base = Config()
    for model_name in MODELS.names():
        model = build_model(model_name, in_channels=3, num_classes=10, input_size=(32, 32))
        for layers, unit, grouping, conv, dense, output in itertools.product(
                ("all", "linear", "conv"), ("weight", "input_channel", "output_filter", "hybrid"),
                ("global", "local"), (None, 0.0), (None, 0.0), (None, 0.0, 0.5)):
            if unit == "output_filter" and model_name in SKIP_CONNECTIONS:
                continue
            pruner = dataclasses.replace(base.pruner, layers=layers, unit=unit, grouping=grouping, conv_rate=conv,
                                         dense_rate=dense, output_rate=output)
            config = dataclasses.replace(base, model=dataclasses.replace(base.model, name=model_name), pruner=pruner)
            try:
                real = make_pruner(config, model)
            except ValueError:                         # "selects no layer": nothing to prune
                pruned = set()
            else:
                output_name = real.output
                pruned = {"output" if n == output_name else real.kinds[n] for names, rate in real.groups(0.3)
                          if rate > 0 for n in names}
            assert pruned == set(pruned_kinds(config)), (model_name, layers, unit, grouping, conv, dense, output)


@pytest.mark.parametrize("data_dir", ["a/../b", "..", "../data", "data/..", "a\\..\\b", "", "   ", "a\x00b",
                                      "tab\there", "\ud800"])
def test_a_data_dir_that_climbs_out_or_is_not_a_path_is_refused(data_dir):
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"dataset": {"data_dir": data_dir}})
    assert "'..' component" in info.value.for_field("dataset.data_dir")[0].allowed


@pytest.mark.parametrize("data_dir", ["cache/data", "/tmp/x..y", "a/..b/c", "./data", "données/😀", "~/data"])
def test_ordinary_data_dirs_are_accepted_and_round_trip_through_toml(data_dir):
    c = Config.from_dict({"dataset": {"data_dir": data_dir}})
    assert Config.from_dict(tomllib.loads(to_toml(c))) == c


@pytest.mark.parametrize("path", [spec.path for spec in field_specs(values={"algorithm.lr_policy.name": "allr",
                                                                          "training.optimizer": "sgd"})
                                  if spec.type == "float"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 10**400],
                         ids=["nan", "inf", "-inf", "10**400"])
def test_every_float_field_refuses_non_finite_values(path, value):
    from pruning_core.config.values import set_dotted
    data: dict = {}
    set_dotted(data, path, value)
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    assert info.value.for_field(path)


@pytest.mark.parametrize("data, field", [
    ({"pruner": {"method": "magnitude", "score": "random"}}, "pruner.score"),         # layouts mixed: was dropped
    ({"pruner": {"unit": "output_filter"}, "algorithm": {"rewind": "weights"}}, "pruner.unit"),
    ({"pruner": {"method": "magnitude", "structure": ["filters"]}}, "pruner.structure"),   # was TypeError
    ({"pruner": "magnitude", "algorithm": {"rewind": "weights"}}, "pruner"),               # was TypeError
    ({"model": ["conv2"], "pruner": {"method": "magnitude"}}, "model"),                    # was AttributeError
    ({"algorithm": {"rewind": "none", "rounds": "5", "partial_epochs": 3}}, "algorithm.rounds"),
])
def test_a_first_release_config_with_wrong_types_or_mixed_layouts_is_a_config_error(data, field):
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    assert info.value.for_field(field), str(info.value)


def test_fields_that_do_not_affect_the_result_leave_the_hash_alone():
    not_hashed = {s.path for s in field_specs() if not s.affects_result}
    assert not_hashed == {"dataset.data_dir", "dataset.download", "training.eval_batch_size", "device"}
    base = Config.from_dict({"model": {"name": "conv2"}})
    for other in ({"dataset": {"data_dir": "elsewhere"}}, {"dataset": {"download": False}},
                  {"training": {"eval_batch_size": 17}}, {"device": "cuda:1"}):
        changed = Config.from_dict({"model": {"name": "conv2"}, **other})
        assert changed != base and changed.hash() == base.hash(), other


def test_an_inactive_field_at_its_default_leaves_the_hash_alone():
    base = Config()                                          # nadam: momentum and nesterov do not act
    explicit = Config.from_dict({"training": {"momentum": 0.9, "nesterov": False}, "analysis": {"topk": 1000},
                                 "algorithm": {"retrain_epochs": None}})
    assert explicit == base and explicit.hash() == base.hash()
    with pytest.raises(ConfigError):                          # away from its default it is refused, not hashed
        Config.from_dict({"training": {"momentum": 0.5}})
    assert Config.from_dict(base.to_dict()).hash() == base.hash()


@pytest.mark.parametrize("data", [
    {"algorithm": {"name": "asni", "schedule": {"target_sparsity": None, "alpha": 0.5, "gamma": 1e-300}}},
    {"algorithm": {"name": "asni", "schedule": {"gamma": 0.001953125}}, "pruner": {"selection": "threshold"}},
])
def test_a_plan_whose_arithmetic_overflows_is_a_config_error(data):
    # math.exp overflows in the sigmoid schedule for a tiny gamma (was OverflowError from from_dict / plan())
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    assert "OverflowError" in info.value.for_field("algorithm")[0].allowed
