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
    (["run", "--set", "model.name=vgg11"], "model.name: got 'vgg11'; allowed: a model that accepts the 8x8 images"),
    (["run", "--set", "dataset.name=cifar10", "--set", "dataset.download=false", "--set",
      "dataset.data_dir=/nonexistent"], "digits"),
    (["show", "no-such-job"], "no job 'no-such-job'"),
])
def test_errors_are_one_clear_line(tmp_path, capsys, args, message):
    assert main(["--cache", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# ---- issue 8, defect 9: every input ends in a config or one error, never a traceback ------------

def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err.startswith("error: ")
    return captured.err.splitlines()[0]


@pytest.mark.parametrize("content, kind", [(b"null", "null"), (b"[]", "a list"), (b"0", "a number"),
                                           (b"false", "false"), (b'""', "a string")])
def test_a_config_file_whose_top_level_is_not_an_object_is_refused(tmp_path, capsys, content, kind):
    path = tmp_path / "c.json"
    path.write_bytes(content)
    assert main(["defaults", "--config", str(path)]) == 2
    assert _error_line(capsys) == (f"error: cannot read config {path}: its top level is {kind}; allowed: an object "
                                   'of config sections, e.g. {"training": {"epochs": 3}}')
    assert main(["defaults", "--config", str(path), "--set", "seed=1"]) == 2      # was AttributeError / TypeError
    _error_line(capsys)


def test_a_missing_config_or_a_folder_is_one_error_naming_it(tmp_path, capsys):
    missing = tmp_path / "missing.toml"
    assert main(["defaults", "--config", str(missing)]) == 2
    assert _error_line(capsys) == f"error: cannot read config {missing}: No such file or directory"
    folder = tmp_path / "folder.json"
    folder.mkdir()
    assert main(["run", "--config", str(folder)]) == 2
    assert _error_line(capsys) == f"error: cannot read config {folder}: Is a directory"


@pytest.mark.parametrize("name, content, reason", [
    ("c.json", b"\xff\xfe\x00garbage", "not UTF-8 text (byte 0xff at offset 0)"),
    ("c.toml", bytes(range(256)), "not UTF-8 text"),
    ("c.json", b'{"seed": 1}\x00', "holds a NUL byte at offset 11"),
    ("c.toml", b"seed = 1\x00\n", "holds a NUL byte at offset 8"),
    ("c.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("c.toml", b"a = " + b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("c.json", b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
    ("c.json", b'{"training": ' + b"[" * 40 + b"]" * 40 + b"}", "training is nested too deeply"),
    ("c.json", b'{"seed": 1, "seed": 2}', "key 'seed' given twice"),
    ("c.json", b'{"seed": ' + b"9" * 5000 + b"}", "not valid JSON: Exceeds the limit (4300 digits)"),
    ("c.toml", b"[training\nepochs = 3", "not valid TOML"),
])
def test_binary_garbage_and_deep_nesting_in_a_config_file_are_one_error(tmp_path, capsys, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["defaults", "--config", str(path)]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"error: cannot read config {path}: ") and reason in line, line


@pytest.mark.parametrize("override, field", [
    ("training.lr=" + "[" * 100_000 + "]" * 100_000, "training.lr"),      # RecursionError in json.loads
    ('pruner.score={"name":' * 30 + '"random"' + "}" * 30, "pruner.score"),
    ("training.lr=" + str(10**400), "training.lr"),                        # OverflowError in float()
    ("seed=" + "9" * 5000, "seed"),                                          # beyond int()'s digit limit
    ("seed=4294967296", "seed"),
    ("device=cuda:٣", "device"),
    ("dataset.data_dir=../../etc", "dataset.data_dir"),
])
def test_fuzzed_overrides_are_one_error_naming_the_field(capsys, override, field):
    assert main(["defaults", f"--set={override}"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and f"\n  {field}" in captured.err and "Traceback" not in captured.err
    assert len(captured.err) < 1000


def test_describe_json_that_is_not_an_object_is_one_error(capsys):
    assert main(["describe", "--json", "[" * 100_000]) == 2
    assert "nested too deeply" in _error_line(capsys)
    assert main(["describe", "--json", "[]"]) == 2
    assert "its top level is a list" in _error_line(capsys)


def test_an_error_prunelab_raises_on_purpose_is_one_line_and_exit_code_1(monkeypatch, capsys):
    import pruning_core.runner
    from pruning_core.errors import CorruptArtifact

    def unreadable(job, cache_dir=None):
        raise CorruptArtifact(f"job {job}: masks/repeat_0/round_001.npz is truncated")

    monkeypatch.setattr(pruning_core.runner, "load_result", unreadable)
    assert main(["show", "20261121-101500-1a2b3c4d"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "error: job 20261121-101500-1a2b3c4d: masks/repeat_0/round_001.npz is truncated\n"


def test_list_shows_an_unreadable_record_with_its_reason(monkeypatch, capsys):
    import pruning_core.jobs.store

    good = {"id": "20261121-101500-1a2b3c4d", "status": "finished", "config": defaults().to_dict(),
            "progress": {"epochs_done": 31, "epochs_total": 31}, "origin": "cli", "error": None}
    bad = {"id": "20261121-101501-deadbeef", "status": "unreadable", "config": None, "progress": None,
           "origin": None, "error": "record is not valid JSON\n(line 1)"}

    class Store:
        def __init__(self, cache_dir):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def list_jobs(self):
            return [good, bad]

    monkeypatch.setattr(pruning_core.jobs.store, "JobStore", Store)
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("20261121-101500-1a2b3c4d") and "finished" in lines[0]
    assert lines[1] == "20261121-101501-deadbeef  unreadable  record is not valid JSON\\n(line 1)"
