"""Config: defaults, validation errors that name the field, overrides, hashing, epoch accounting."""

import json

import pytest

from pruning_core.config import (DATASET_NAMES, MODEL_NAMES, Config, ConfigError, applies, field_specs,
                                 load_config, to_toml)


def test_defaults_are_valid_and_reproduce_the_iap_lenet_setting():
    c = Config.from_dict({})
    assert (c.model.name, c.training.optimizer, c.training.lr, c.training.batch_size) == \
        ("lenet300_100", "nadam", 1.2e-3, 60)
    assert (c.training.epochs, c.algorithm.rewind_epoch, c.training.weight_decay) == (6, 5, 1e-4)
    assert Config.from_dict(c.to_dict()) == c


def test_registry_names_match_the_torch_registries():
    from pruning_core.data import DATASETS
    from pruning_core.models import MODELS
    assert list(MODEL_NAMES) == list(MODELS)
    assert list(DATASET_NAMES) == list(DATASETS)


@pytest.mark.parametrize("data, field, allowed", [
    ({"training": {"lr": -1}}, "training.lr", "a number > 0"),
    ({"training": {"optimizer": "rmsprop"}}, "training.optimizer", "one of sgd, adam, nadam"),
    ({"algorithm": {"rate": 1.0}}, "algorithm.rate", "a number in (0, 1)"),
    ({"algorithm": {"rounds": 2.5}}, "algorithm.rounds", "an integer in [1, 200]"),
    ({"algorithm": {"rounds": True}}, "algorithm.rounds", "an integer in [1, 200]"),
    ({"model": {"name": "alexnet"}}, "model.name", "one of lenet300_100, lenet5"),
    ({"pruner": {"output_rate": None, "scope": "layer"}}, "pruner.scope", "one of global, local"),
    ({"training": {"milestones": [3, 2]}}, "training.milestones", "increasing epochs"),
    ({"algorithm": {"rewind_epoch": 6}}, "algorithm.rewind_epoch", "k < training.epochs (6)"),
    ({"algorithm": {"partial_epochs": 5, "rewind_epoch": 5}}, "algorithm.partial_epochs",
     "rewind_epoch (5) < tau <= training.epochs (6)"),
    ({"device": "gpu"}, "device", "auto, cpu, cuda, cuda:N or mps"),
    ({"training": {"epochs": None}}, "training.epochs", "an integer in [1, 10000]"),
])
def test_bad_values_name_the_field_and_what_is_allowed(data, field, allowed):
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    errors = info.value.for_field(field)
    assert len(errors) == 1 and allowed in errors[0].allowed, str(info.value)
    assert field in str(info.value)


def test_unknown_keys_are_errors_listing_the_known_ones():
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"training": {"epoch": 3}, "colour": "red"})
    fields = sorted(e.field for e in info.value.errors)
    assert fields == ["colour", "training.epoch"]
    assert "epochs" in info.value.for_field("training.epoch")[0].allowed


def test_all_errors_are_reported_at_once():
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"training": {"lr": 0, "batch_size": 0}, "seed": -1})
    assert {e.field for e in info.value.errors} == {"training.lr", "training.batch_size", "seed"}


def test_overrides_parse_json_values_and_plain_strings(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[training]\nepochs = 8\n[algorithm]\nrounds = 2\n')
    c = load_config(path, ["algorithm.rounds=5", "training.optimizer=sgd", "training.milestones=[2, 4]",
                           "pruner.output_rate=null", "algorithm.partial_epochs=7"])
    assert (c.training.epochs, c.algorithm.rounds, c.training.optimizer) == (8, 5, "sgd")
    assert c.training.milestones == [2, 4] and c.algorithm.partial_epochs == 7
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"seed": 3}))
    assert load_config(js).seed == 3
    with pytest.raises(ConfigError, match="--set"):
        load_config(None, ["algorithm.rounds"])
    with pytest.raises(ConfigError, match="training.epochs"):
        load_config(None, ["training.epochs=many"])


def test_toml_round_trip_omits_nulls():
    c = Config.from_dict({"training": {"milestones": [2, 4], "lr_schedule": "step"}, "repeats": 2})
    import tomllib
    assert Config.from_dict(tomllib.loads(to_toml(c))) == c


def test_hash_names_the_experiment_not_the_machine():
    a = Config()
    assert a.hash() == Config.from_dict({"device": "cpu", "training": {"eval_batch_size": 7}}).hash()
    assert a.hash() != a.replace(**{"seed": 1}).hash()
    assert len(a.hash()) == 64


def test_target_sparsity_gives_the_per_round_rate():
    c = Config.from_dict({"algorithm": {"rounds": 4, "target_sparsity": 0.9375}})
    assert c.per_round_rate == pytest.approx(0.5)          # 1 - (1 - 0.9375)^(1/4) = 1 - 0.5
    assert c.planned_sparsity() == pytest.approx([0, 0.5, 0.75, 0.875, 0.9375])


def test_aimp_epoch_accounting_matches_the_paper():
    # T = 30, k = 2, tau = 10, 5 rounds: WR retrains 4 * (10 - 2) + (30 - 2) = 60 vs IMP's 5 * 28 = 140.
    imp = Config.from_dict({"training": {"epochs": 30}, "algorithm": {"rounds": 5, "rewind_epoch": 2}})
    aimp = imp.replace(**{"algorithm.partial_epochs": 10})
    assert [aimp.retrain_epochs(r) for r in range(6)] == [30, 8, 8, 8, 8, 28]
    assert (aimp.search_cost(), imp.search_cost()) == (60, 140)
    # AIMP paper, Table I: T = 160, 20 iterations; counting as 19 * tau + 160 (k = 0): tau = 50 -> 1110.
    paper = Config.from_dict({"training": {"epochs": 160}, "algorithm": {"rounds": 20, "rewind_epoch": 0,
                                                                         "partial_epochs": 50}})
    assert paper.search_cost() == 1110
    assert paper.replace(**{"algorithm.partial_epochs": None}).search_cost() == 3200


def test_field_specs_carry_metadata_and_when_conditions():
    specs = {s.path: s for s in field_specs()}
    assert specs["training.optimizer"].choices == ("sgd", "adam", "nadam")
    assert specs["algorithm.partial_epochs"].optional and specs["algorithm.partial_epochs"].type == "int"
    momentum = specs["training.momentum"]
    assert not applies(momentum, {"training.optimizer": "adam"})
    assert applies(momentum, {"training.optimizer": "sgd"})
    assert set(specs) >= {"model.name", "dataset.name", "seed", "repeats", "device"}
    warmup = specs["algorithm.warmup_fraction"]            # alternatives: an LLR-like policy, or BIMP
    assert applies(warmup, {"algorithm.name": "bimp"})
    assert applies(warmup, {"algorithm.name": "imp", "algorithm.rewind": "lr", "algorithm.lr_policy": "allr"})
    assert not applies(warmup, {"algorithm.name": "imp", "algorithm.rewind": "lr", "algorithm.lr_policy": "ft"})
    assert not applies(warmup, {"algorithm.name": "imp", "algorithm.rewind": "weights"})
