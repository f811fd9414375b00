"""Plug-ins: a file that registers a method is picked up by the config, the CLI and a run with no
other edit; a broken file or a taken name is a clear error naming the file, and the rest works."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from pruning_core.__main__ import main
from pruning_core.config import Config, ConfigError, field_specs
from pruning_core.registry import (SCORES, PluginError, load_plugin, loaded_plugin_files, temporary_plugin,
                                   unload_plugin)

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "magnitude_increase.py"


def write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text)
    return path


def test_the_readme_example_loads_from_its_file_and_appears_in_the_config():
    assert "magnitude_increase" not in SCORES
    with temporary_plugin(EXAMPLE) as added:
        assert added == [("score", "magnitude_increase")]
        assert "magnitude_increase" in SCORES and str(EXAMPLE.resolve()) in loaded_plugin_files()
        spec = next(s for s in field_specs() if s.path == "pruner.score.name")
        assert "magnitude_increase" in spec.choices and "Zhou et al. 2019" in spec.choice_help["magnitude_increase"]
        config = Config.from_dict({"pruner": {"score": "magnitude_increase"}})
        assert config.pruner.score.plugin_name == "magnitude_increase"
        with pytest.raises(ConfigError, match="pruner.unit"):              # it declares the units it scores
            Config.from_dict({"pruner": {"score": "magnitude_increase", "unit": "input_channel"}})
    assert "magnitude_increase" not in SCORES


def test_the_example_runs_from_the_cli_and_scores_magnitude_increase(tmp_path, capsys):
    args = ["--cache", str(tmp_path / "cache"), "--plugin", str(EXAMPLE)]
    try:
        assert main([*args, "defaults", "--set", "pruner.score=magnitude_increase"]) == 0
        assert json.loads(capsys.readouterr().out)["pruner"]["score"] == {"name": "magnitude_increase"}
        assert main([*args, "methods"]) == 0
        assert "magnitude_increase" in capsys.readouterr().out
        code = main([*args, "run", "--quiet", "--set", "pruner.score=magnitude_increase", "--set", "training.epochs=2",
                     "--set", "training.batch_size=400", "--set", "algorithm.rounds=1", "--set",
                     "algorithm.rewind_epoch=0", "--set", "algorithm.treatment=keep"])
        assert code == 0
        from pruning_core import load_result
        from pruning_core.jobs.store import JobStore
        with JobStore(tmp_path / "cache") as store:
            job = store.list_jobs()[0]
        assert job["plugins"] == [str(EXAMPLE.resolve())]          # the worker reloads what the job needs
        result = load_result(job["id"], cache_dir=tmp_path / "cache")
        files = result.run_dir.repeat(0)
        init, trained = files.load_weights("init"), files.load_weights("round_000")
        mask = result.masks(1)["classifier.0.weight"]
        score = trained["classifier.0.weight"].abs() - init["classifier.0.weight"].abs()
        # global ranking: the pruned weights of the first layer are exactly its lowest |w| − |w₀|
        # below the global threshold, so every pruned score is <= every kept score in that layer
        assert score[~mask].max() <= score[mask].min()
    finally:
        unload_plugin(EXAMPLE)


def test_a_failing_plugin_names_its_file_and_leaves_nothing_behind(tmp_path):
    broken = write(tmp_path / "broken.py", "from pruning_core.api import Score, register_score\n\n"
                   "@register_score('half_done')\nclass HalfDone(Score):\n    pass\n\nraise RuntimeError('oops')\n")
    with pytest.raises(PluginError) as info:
        load_plugin(broken)
    assert str(broken) in str(info.value) and "RuntimeError: oops" in str(info.value)
    assert "half_done" not in SCORES and "magnitude" in SCORES          # rolled back; the rest works


def test_a_name_registered_twice_names_both_places(tmp_path):
    first = write(tmp_path / "first.py", "from pruning_core.api import Score, register_score\n\n"
                  "@register_score('dupe')\nclass A(Score):\n    def __call__(self, ctx):\n        return {}\n")
    second = write(tmp_path / "second.py", first.read_text().replace("class A", "class B"))
    with temporary_plugin(first):
        with pytest.raises(PluginError) as info:
            load_plugin(second)
        assert str(second) in str(info.value) and str(first) in str(info.value)
    taken = write(tmp_path / "taken.py", first.read_text().replace("'dupe'", "'magnitude'"))
    with pytest.raises(PluginError, match="already registered"):
        load_plugin(taken)
    assert SCORES.get("magnitude").__module__ == "pruning_core.pruners.scores"


def test_the_cli_reports_a_broken_plugin_in_one_line(tmp_path, capsys):
    broken = write(tmp_path / "broken.py", "import not_a_module_anywhere\n")
    assert main(["--plugin", str(broken), "defaults"]) == 2
    err = capsys.readouterr().err
    assert f"plug-in {broken.resolve()} failed to load: ModuleNotFoundError" in err and "Traceback" not in err


def test_plugins_load_from_the_environment(tmp_path, monkeypatch):
    folder = tmp_path / "plugins"
    folder.mkdir()
    write(folder / "steps.py", "from pruning_core.api import SparsitySchedule, option, register_schedule\n\n"
          "@register_schedule('steps')\nclass Steps(SparsitySchedule):\n"
          "    '''Half the target after the first half of the epochs, the target after the second.'''\n"
          "    target_sparsity: float = option(0.8, 'final sparsity', low=0, high=1, high_open=True)\n"
          "    def sparsities(self, epochs):\n"
          "        return [self.target_sparsity * (0.5 if e <= epochs // 2 else 1.0) for e in range(1, epochs + 1)]\n")
    from pruning_core.registry import SCHEDULES, plugin_paths_from_env
    monkeypatch.setenv("PRUNELAB_PLUGINS", str(folder))
    with temporary_plugin(plugin_paths_from_env()[0] / "steps.py"):
        plan = Config.from_dict({"algorithm": {"name": "gradual", "schedule": {"name": "steps", "target_sparsity": 0.6}},
                                 "training": {"epochs": 4}}).plan()
        assert [r.sparsity for r in plan.rounds] == [0.3, 0.3, 0.6, 0.6]          # a schedule plug-in drives the plan
        assert "steps" in SCHEDULES


LR_POLICY = '''
from pruning_core.api import LRPolicy, option, register_lr_policy


@register_lr_policy("halved")
class Halved(LRPolicy):
    """The original schedule's LR at the same position, times a factor (0.5 by default)."""
    factor: float = option(0.5, "Multiplies the original LR.", low=0.0, low_open=True)

    def lr(self, t, env):
        return self.factor * env.eta(t)
'''

ALGORITHM = '''
from pruning_core.api import Algorithm, LRPlan, Plan, PruneStep, RoundPlan, lr_policy, option, register_algorithm


@register_algorithm("prune_twice")
class PruneTwice(Algorithm):
    """Train, then twice: prune a fraction of what is alive and retrain the kept weights."""
    rate: float = option(0.5, "Fraction pruned at each of the two steps.", low=0.0, high=1.0,
                         low_open=True, high_open=True)

    def plan(self, config):
        T, replay = config.training.epochs, lr_policy("replay")
        rounds = [RoundPlan(0, T, LRPlan(replay, T))]
        for r in (1, 2):
            sparsity = 1 - (1 - self.rate) ** r
            rounds.append(RoundPlan(r, 1, LRPlan(replay, 1, T - 1), sparsity, sparsity,
                                    prune=PruneStep.fraction(self.rate), treatment="keep", cumulative=r))
        return Plan(tuple(rounds), rate=self.rate, headline=f"prune_twice at p = {self.rate}")
'''


def test_an_lr_policy_and_an_algorithm_are_one_file_each(tmp_path):
    policy, algorithm = write(tmp_path / "halved.py", LR_POLICY), write(tmp_path / "twice.py", ALGORITHM)
    with temporary_plugin(policy), temporary_plugin(algorithm):
        # the LR policy: a choice of imp with its option, and in the plan
        config = Config.from_dict({"algorithm": {"treatment": "keep", "lr_policy": {"name": "halved", "factor": 0.25},
                                                 "retrain_epochs": 1, "rounds": 1}, "training": {"lr": 0.01}})
        from pruning_core.schedules import LRSchedule
        step = config.plan().round(1)
        assert step.lr.function(LRSchedule(config.training), 10)(0.3) == pytest.approx(0.0025)
        assert "halved" in next(s for s in field_specs() if s.path == "algorithm.lr_policy.name").choices
        # the algorithm: its own options, its plan, and a run on the shared loop
        config = Config.from_dict({"algorithm": {"name": "prune_twice", "rate": 0.5},
                                   "training": {"epochs": 2, "batch_size": 400}})
        assert [r.epochs for r in config.plan().rounds] == [2, 1, 1]
        from pruning_core import run
        result = run(config, cache_dir=tmp_path / "cache")
        assert result.rounds["remaining_weights"].tolist() == [50_200, 25_100, 12_550]
        assert result.rounds["retrain_epochs"].tolist() == [2, 1, 1]
        assert result.epochs["schedule_epoch"].tolist() == [0, 1, 1, 1]       # the last epoch, twice
        with pytest.raises(ConfigError, match="algorithm.rounds"):           # imp's options are not its own
            Config.from_dict({"algorithm": {"name": "prune_twice", "rounds": 3}})


@pytest.mark.slow
def test_a_worker_loads_the_plugins_a_queued_job_recorded(tmp_path):
    """A job queued with a plug-in runs in a fresh worker process that was given no --plugin."""
    cache = tmp_path / "cache"
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
              "from pruning_core.registry import load_plugin, loaded_plugin_files\n"
              "from pruning_core.config import Config\nfrom pruning_core.jobs.store import JobStore\n"
              f"load_plugin({str(EXAMPLE)!r})\n"
              "config = Config.from_dict({'pruner': {'score': 'magnitude_increase'}, 'training': {'epochs': 2, "
              "'batch_size': 400}, 'algorithm': {'rounds': 1, 'rewind_epoch': 0}})\n"
              f"with JobStore({str(cache)!r}) as s:\n"
              "    print(s.create_job(config.to_dict(), config.hash(), plugins=loaded_plugin_files())['id'])\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("PRUNELAB_PLUGINS", None)
    job = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env,
                         cwd=tmp_path).stdout.strip()
    proc = subprocess.run([sys.executable, "-m", "pruning_core", "--cache", str(cache), "worker", "--idle-exit", "1"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    from pruning_core.jobs.store import JobStore
    with JobStore(cache) as store:
        record = store.get_job(job)
    assert record["status"] == "finished", (record.get("error"), proc.stdout[-2000:], proc.stderr[-2000:])
