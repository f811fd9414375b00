"""The recipe library: every recipe validates and resolves to exactly its source's values; the
CLI lists them and applies one under --config and --set (recipe < --config < --set)."""

from __future__ import annotations

import json
import pathlib

import pytest

from pruning_core.__main__ import main
from pruning_core.config import Config, ConfigError, load_config
from pruning_core.config.io import merge_partial
from pruning_core.config.values import flat_values
from pruning_core.recipes import (RECIPES, UnknownRecipe, dataset_available_offline, get_recipe, how_to_get,
                                  recipe_for)

REPO = pathlib.Path(__file__).resolve().parents[2]
PLUGIN_SECTIONS = ("algorithm", "pruner.score", "pruner.selection", "algorithm.schedule", "algorithm.lr_policy")


def resolved(name: str) -> dict:
    """The complete config a recipe makes, as dotted values."""
    return flat_values(load_config(recipe=name).to_dict())


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_validates_and_keeps_exactly_its_values(name):
    recipe = get_recipe(name)
    assert recipe.source.strip() and recipe.title.strip() and recipe.name == name
    config = Config.from_dict(recipe.partial())            # raises ConfigError if invalid
    assert config == load_config(recipe=name)
    values = flat_values(config.to_dict())
    assert recipe.fields(), "a recipe sets at least one field"
    for key, value in recipe.fields().items():
        assert values[key] == value, key


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_names_its_plugins_and_says_where_its_data_comes_from(name):
    recipe = get_recipe(name)
    fields = recipe.fields()
    for section in PLUGIN_SECTIONS:
        if any(k.startswith(section + ".") and k.count(".") == section.count(".") + 1 for k in fields):
            assert section + ".name" in fields, f"{section} is set without naming its plug-in"
    hint = how_to_get(recipe)
    if dataset_available_offline(recipe):
        assert recipe.dataset in ("digits", "fashion_mnist")
    else:
        assert "download" in hint and "offline" in hint.lower(), hint


def test_openlth_lenet_is_open_lth_default_hparams():
    v = resolved("openlth_lenet300_mnist")
    # models/mnist_lenet.py: sgd, lr 0.1, batch 128, 40ep, sparse_global 0.2, fc.weight ignored; no momentum/decay
    assert (v["model.name"], v["dataset.name"]) == ("lenet300_100", "mnist")
    assert (v["training.optimizer"], v["training.lr"], v["training.batch_size"], v["training.epochs"]) == \
        ("sgd", 0.1, 128, 40)
    assert (v["training.momentum"], v["training.weight_decay"], v["training.lr_schedule"]) == (0.0, 0.0, "constant")
    assert (v["pruner.grouping"], v["algorithm.rate"], v["pruner.output_rate"]) == ("global", 0.2, 0.0)
    assert (v["algorithm.treatment"], v["algorithm.rewind_epoch"]) == ("rewind", 0)


@pytest.mark.parametrize("name, model, output_rate", [("openlth_resnet20_cifar10", "resnet20", None),
                                                      ("openlth_vgg16_cifar10", "vgg16", 0.0)])
def test_openlth_cifar_defaults(name, model, output_rate):
    v = resolved(name)
    assert (v["model.name"], v["dataset.name"], v["dataset.augment"]) == (model, "cifar10", True)
    assert (v["training.optimizer"], v["training.lr"], v["training.momentum"], v["training.weight_decay"]) == \
        ("sgd", 0.1, 0.9, 1e-4)
    assert (v["training.epochs"], v["training.batch_size"], v["training.milestones"], v["training.gamma"]) == \
        (160, 128, [80, 120], 0.1)
    assert (v["pruner.grouping"], v["algorithm.rate"], v["pruner.output_rate"]) == ("global", 0.2, output_rate)


def test_aimp_recipe_is_the_shipped_aimp_config():
    assert load_config(recipe="aimp_vgg19_cifar10") == load_config(REPO / "configs" / "aimp_vgg19_cifar10.toml")


def test_iap_and_paganini_and_asni_values():
    iap = resolved("iap_lenet300_mnist")
    assert (iap["training.optimizer"], iap["training.lr"], iap["training.batch_size"], iap["training.epochs"],
            iap["training.weight_decay"]) == ("nadam", 0.0012, 60, 6, 1e-4)
    assert (iap["pruner.score.name"], iap["pruner.unit"], iap["pruner.dense_rate"], iap["algorithm.rewind_epoch"]) \
        == ("activation", "output_filter", 0.2, 5)
    lenet5 = resolved("iap_lenet5_cifar10")                  # the paper's 4.30M-parameter "LeNet-5" is Conv-2
    assert (lenet5["model.name"], lenet5["training.lr"], lenet5["training.epochs"], lenet5["algorithm.rewind_epoch"],
            lenet5["pruner.conv_rate"], lenet5["pruner.dense_rate"]) == ("conv2", 0.0002, 24, 22, 0.1, 0.2)
    pf = resolved("paganini_lenet5_mnist")
    assert (pf["training.lr"], pf["training.batch_size"], pf["training.epochs"], pf["training.momentum"],
            pf["pruner.grouping"], pf["algorithm.rate"], pf["algorithm.rewind_epoch"]) == \
        (0.01, 32, 30, 0.0, "local", 0.2, 0)
    asni = resolved("asni_conv2_cifar10")
    assert (asni["algorithm.name"], asni["algorithm.schedule.alpha"], asni["algorithm.schedule.gamma"],
            asni["algorithm.schedule.beta"], asni["training.epochs"], asni["training.lr"],
            asni["training.optimizer"]) == ("asni", 0.985, 2.0, 0.5, 20, 2e-4, "adam")


def test_quickstart_is_the_engine_defaults_and_offline():
    q = get_recipe("quickstart")
    assert (q.model, q.dataset) == ("lenet300_100", "digits") and dataset_available_offline(q)
    assert load_config(recipe="quickstart") == Config()          # what run and the Experiment page start from
    assert list(RECIPES)[0] == "quickstart"


def test_lottery_quickstart_is_the_home_page_launch():
    v = resolved("lottery_quickstart")
    assert (v["dataset.name"], v["algorithm.rounds"], v["algorithm.rewind_epoch"], v["repeats"]) == \
        ("digits", 20, 0, 5)
    assert dataset_available_offline("lottery_quickstart")


def test_unknown_recipe_is_one_line_naming_the_allowed_ones():
    with pytest.raises(UnknownRecipe) as info:
        get_recipe("lottery")
    assert isinstance(info.value, ConfigError)
    assert str(info.value) == "recipe: got 'lottery'; allowed: " + ", ".join(RECIPES)


def test_recipe_for_model_and_dataset():
    assert [r.name for r in recipe_for("lenet300_100", "digits")] == ["quickstart", "lottery_quickstart"]
    assert {r.name for r in recipe_for("conv2", "cifar10")} == {"iap_lenet5_cifar10", "asni_conv2_cifar10"}
    assert recipe_for("resnet18", "cifar100") == []


def test_merge_replaces_a_section_that_names_another_plugin():
    base = {"algorithm": {"name": "imp", "rounds": 20}, "training": {"epochs": 6, "lr": 0.1}}
    merged = merge_partial(base, {"algorithm": {"name": "asni"}, "training": {"lr": 0.2}})
    assert merged == {"algorithm": {"name": "asni"}, "training": {"epochs": 6, "lr": 0.2}}
    assert merge_partial(base, {"algorithm": {"rounds": 3}})["algorithm"] == {"name": "imp", "rounds": 3}
    assert base["algorithm"]["rounds"] == 20                       # the recipe is not modified


# ---- CLI ---------------------------------------------------------------------------------------

def test_cli_lists_recipes(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for name, recipe in RECIPES.items():
        line = next(x for x in out.splitlines() if x.startswith(name + " "))
        assert ("offline" if dataset_available_offline(recipe) else "download") in line
        assert recipe.source in out
    assert main(["recipes", "aimp_vgg19_cifar10"]) == 0
    detail = capsys.readouterr().out
    assert "training.grad_clip = 1.0" in detail and "CIFAR-10 is not available offline" in detail


def test_cli_unknown_recipe_is_an_error_line(capsys):
    for argv in (["recipes", "nope"], ["run", "--recipe", "nope"], ["defaults", "--recipe", "nope"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: recipe: got 'nope'; allowed: quickstart, ") and err.count("\n") == 1


def test_cli_recipe_then_config_then_set(capsys, tmp_path):
    cfg = tmp_path / "mine.toml"
    cfg.write_text("[training]\nlr = 0.05\nepochs = 3\n")
    argv = ["defaults", "--recipe", "openlth_lenet300_mnist", "--config", str(cfg), "--set", "training.epochs=2"]
    assert main(argv) == 0
    c = json.loads(capsys.readouterr().out)
    assert c["training"]["batch_size"] == 128                      # the recipe's
    assert c["training"]["lr"] == 0.05                             # the config file over the recipe
    assert c["training"]["epochs"] == 2                            # --set over both
    asni = tmp_path / "asni.toml"
    asni.write_text('[algorithm]\nname = "asni"\n')                # another algorithm replaces the recipe's
    assert main(["defaults", "--recipe", "lottery_quickstart", "--config", str(asni)]) == 0
    assert json.loads(capsys.readouterr().out)["algorithm"]["name"] == "asni"


def test_sweep_takes_a_recipe(capsys, tmp_path):
    argv = ["--cache", str(tmp_path / "cache"), "sweep", "--recipe", "lottery_quickstart", "--set",
            "algorithm.rounds=2", "--set", "repeats=1", "--axis", "seed=0,1", "--dry-run"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "sweep of 2 jobs" in out and "search cost 24 epochs" in out      # 2 × 2 rounds × 6 epochs
