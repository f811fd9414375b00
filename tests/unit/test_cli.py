"""The command line, end to end on digits: defaults, methods, plug-ins, run --set --out, list, show,
export, errors."""

import csv
import json

import pytest

from pruning_core.__main__ import main
from pruning_core.config import Config, defaults


def test_defaults_prints_the_complete_config(capsys):
    assert main(["defaults"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert set(config) == {"model", "dataset", "pruner", "algorithm", "training", "analysis", "seed", "repeats",
                           "device"}
    assert config["pruner"]["score"] == {"name": "magnitude", "norm": "l1"}      # the v2 layout
    assert Config.from_dict(config) == defaults()


def test_methods_lists_the_builtin_scores(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PRUNELAB_PLUGINS", raising=False)
    monkeypatch.chdir(tmp_path)                       # no ./plugins folder: built-ins only
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("score (pruner.score):")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    names = [line.split()[0] for line in lines[start + 1:end] if line.startswith("  ") and line[2] != " "]
    assert {"magnitude", "random", "activation", "snip", "taylor"} <= set(names)


def test_a_plugin_that_fails_to_load_is_one_clear_error(tmp_path, capsys):
    plugin = tmp_path / "broken_plugin.py"
    plugin.write_text('raise RuntimeError("boom")\n')
    assert main(["--plugin", str(plugin), "defaults"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: plug-in {plugin.resolve()} failed to load")
    assert "Traceback" not in captured.err and captured.out == ""             # nothing printed after it


def test_run_with_overrides_prints_lines_and_exports(tmp_path, capsys):
    cfg = tmp_path / "partial.toml"
    cfg.write_text('[training]\nepochs = 2\nbatch_size = 200\n')
    out = tmp_path / "out"
    code = main(["--cache", str(tmp_path / "cache"), "run", "--config", str(cfg), "--set", "algorithm.rounds=2",
                 "--set", "algorithm.rewind_epoch=1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.count("== round") == 3 and printed.count("epoch ") >= 4 and "ETA" in printed
    with open(out / "rounds.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:11] == ["repeat", "seed", "round", "sparsity", "remaining_fraction", "remaining_weights",
                                  "test_accuracy", "best_test_accuracy", "retrain_epochs", "cumulative_epochs",
                                  "seconds"]
    assert {"effective_sparsity", "flops", "stability_to_pruning"} <= set(rows[0])
    assert [r["round"] for r in rows] == ["0", "1", "2"]
    with open(out / "epochs.csv") as f:
        assert list(csv.DictReader(f))[0].keys() >= {"round", "epoch", "lr", "train_loss", "test_accuracy", "sparsity"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["config"]["training"]["epochs"] == 2
    assert len(summary["config_hash"]) == 64 and summary["totals"]["search_cost_epochs"] == 2
    assert sorted(p.name for p in (out / "masks" / "repeat_0").iterdir()) == \
        ["round_000.npz", "round_001.npz", "round_002.npz"]

    job = summary["job"]
    assert main(["--cache", str(tmp_path / "cache"), "list"]) == 0
    assert job in capsys.readouterr().out
    assert main(["--cache", str(tmp_path / "cache"), "show", job]) == 0
    assert "remaining_weights" in capsys.readouterr().out
    assert main(["--cache", str(tmp_path / "cache"), "export", job, "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "rounds.csv").read_text() == (out / "rounds.csv").read_text()


@pytest.mark.parametrize("args, message", [
    (["run", "--set", "training.lr=-1"], "training.lr: got -1; allowed: a number > 0"),
    (["run", "--set", "model.name=vgg11"], "vgg11 needs inputs of at least"),
    (["run", "--set", "dataset.name=cifar10", "--set", "dataset.download=false", "--set",
      "dataset.data_dir=/nonexistent"], "digits"),
    (["show", "no-such-job"], "no job 'no-such-job'"),
])
def test_errors_are_one_clear_line(tmp_path, capsys, args, message):
    assert main(["--cache", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
