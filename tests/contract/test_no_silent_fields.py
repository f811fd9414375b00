"""No field is silently ignored: for every registered algorithm and every field that applies to
it, a value other than the current one either is refused (ConfigError), or changes the plan, or
changes what the run computes (its events without times and hash, masks and final weights).

Every alternative of a choice must act (two methods that compute the same thing would make one of
them an ignored choice). A number must act for at least one of a few telling values: a clipping
threshold above every gradient norm, or a value equal to the one its null default computes, does
not show that the field is ignored.

The walk starts from each algorithm's small base config and from every one-choice variation of
it (another score, unit, selection, grouping, layers, treatment, LR policy, schedule, optimizer
or LR schedule), so fields that apply only under some choice are reached too. Each field is
checked once, in the first context where it applies. Left out on purpose: the fields marked
``affects_result=False`` (device, data dir, download, eval batch size: where and how fast, not
what), and ``model.name`` / ``dataset.name`` (they choose the network and the data themselves).
"""

from __future__ import annotations

import copy
import hashlib

import pytest

from pruning_core import run
from pruning_core.config import Config, ConfigError, applies, field_specs
from pruning_core.config.values import flat_values, set_dotted
from pruning_core.registry import ALGORITHMS

pytestmark = pytest.mark.slow

TRAINING = {"epochs": 3, "batch_size": 400}
BASES = {
    "imp": {"rounds": 2, "rewind_epoch": 1},
    "one_shot": {"rewind_epoch": 1},
    "bimp": {"rounds": 2, "dense_epochs": 1},
}
SKIPPED = {"model.name", "dataset.name"}


def base(name: str, model: str = "lenet300_100") -> dict:
    return {"model": {"name": model}, "training": dict(TRAINING), "algorithm": {"name": name, **BASES.get(name, {})}}


def candidates(spec, current):
    """Values to try for a field, most telling first."""
    if spec.choices is not None:
        return [c for c in spec.choices if c != current]
    if spec.type == "bool":
        return [True, False] if current is None else [not current]
    if spec.type == "list[int]":
        return [[1], [2]]
    if spec.type not in ("int", "float"):
        return []
    low = spec.low if spec.low is not None else 0
    if current is None:
        small = low + (1 if spec.type == "int" else 0.01)
        values = [spec.example, small, (low + spec.high) / 2 if spec.high is not None else low + 2]
    else:
        step = 1 if spec.type == "int" else (abs(current) * 0.5 or 0.5)
        values = [current + step, current - step, (current + spec.high) / 2 if spec.high is not None else None, None]
    return [v for v in values if (v is not None or spec.optional) and v != current]


def within(spec, value) -> bool:
    if value is None or spec.type not in ("int", "float"):
        return True
    if spec.type == "int" and value != int(value):
        return False
    if spec.low is not None and (value < spec.low or (spec.low_open and value == spec.low)):
        return False
    return spec.high is None or (value < spec.high or (not spec.high_open and value == spec.high))


def fingerprint(config: Config, tmp_path) -> str:
    """A digest of everything a run computes: its events (without times), masks and final weights."""
    from pruning_core.jobs.store import JobStore

    cache = tmp_path / hashlib.sha1(config.hash().encode() + str(config.to_dict()).encode()).hexdigest()[:12]
    result = run(config, cache_dir=cache)
    digest = hashlib.sha256()
    with JobStore(cache) as store:
        for event in store.events(result.job_id):
            kept = {k: v for k, v in event.items()
                    if k not in ("time", "seconds", "eta_seconds", "job", "config_hash")}
            digest.update(repr(sorted(kept.items())).encode())
    for repeat in result.run_dir.repeats():
        files = result.run_dir.repeat(repeat)
        for path in files.mask_files().values():
            digest.update(path.read_bytes())
        for name, tensor in files.load_weights(files.last_weights()).items():
            digest.update(name.encode() + tensor.numpy().tobytes())
    return digest.hexdigest()


def contexts(name: str, model: str) -> list[dict]:
    """The algorithm's base config and each valid one-choice variation of it."""
    data = base(name, model)
    out = [data]
    values = flat_values(Config.from_dict(data).to_dict())
    for spec in field_specs(values=values):
        if spec.choices is None or spec.path in SKIPPED or not spec.affects_result or not applies(spec, values):
            continue
        for choice in spec.choices:
            if choice == values.get(spec.path):
                continue
            variant = copy.deepcopy(data)
            set_dotted(variant, spec.path, choice)
            try:
                Config.from_dict(variant)
            except ConfigError:
                continue
            out.append(variant)
    return out


def acts(context: dict, config: Config, dotted: str, value, tmp_path, prints: dict) -> bool | None:
    """True: the value is refused or changes the plan or the run; False: accepted and changes
    nothing; None is never returned."""
    variant = copy.deepcopy(context)
    set_dotted(variant, dotted, value)
    try:
        changed = Config.from_dict(variant)
    except ConfigError:
        return True                                          # refused: fine
    if changed.plan() != config.plan():
        return True                                          # acts on the plan
    key = repr(context)
    if key not in prints:
        prints[key] = fingerprint(config, tmp_path)
    return fingerprint(changed, tmp_path) != prints[key]


# every algorithm on LeNet-300-100, and IMP on Conv-2 (8×8 digits fit it), where the fields about
# convs (conv_rate, hybrid, layers = conv, per_type) act
CASES = [(name, "lenet300_100") for name in ALGORITHMS.names()] + [("imp", "conv2")]


@pytest.mark.parametrize("name, model", CASES)
def test_every_field_acts_or_is_refused(name, model, tmp_path):
    checked, silent = set(), []
    prints: dict[str, str] = {}
    for context in contexts(name, model):
        config = Config.from_dict(context)
        values = flat_values(config.to_dict())
        for spec in field_specs(values=values):
            if spec.path in checked or spec.path in SKIPPED or not spec.affects_result or not applies(spec, values):
                continue
            tried = [v for v in candidates(spec, values.get(spec.path)) if within(spec, v)]
            if not tried:
                continue
            checked.add(spec.path)
            if spec.choices is not None:                     # every other method must act
                silent += [f"{spec.path} = {v!r} (context {context})" for v in tried
                           if not acts(context, config, spec.path, v, tmp_path, prints)]
            elif not any(acts(context, config, spec.path, v, tmp_path, prints) for v in tried[:3]):
                silent.append(f"{spec.path} = any of {tried[:3]!r} (context {context})")
    assert not silent, "accepted but ignored:\n  " + "\n  ".join(silent)
    assert len(checked) > 10, checked


def test_the_walk_would_catch_an_ignored_field(tmp_path, monkeypatch):
    """The harness itself: a field that acts nowhere (here, the optimizer's momentum forced to act
    on nothing) is reported."""
    import pruning_core.train as train

    real = train.make_optimizer

    def ignore_momentum(cfg, params):
        import dataclasses
        return real(dataclasses.replace(cfg, momentum=0.9), params)
    monkeypatch.setattr(train, "make_optimizer", ignore_momentum)
    config = Config.from_dict({**base("imp"), "training": {**TRAINING, "optimizer": "sgd"}})
    changed = config.replace(**{"training.momentum": 0.5})
    assert changed.plan() == config.plan()
    assert fingerprint(changed, tmp_path) == fingerprint(config, tmp_path)
