"""Fuzzing the config and the command line (hypothesis, derandomized: the same cases every run).

Whatever a config dict, a ``--set`` override or a ``--config`` file holds, the outcome is a
:class:`Config` that keeps the invariants below, or a :class:`ConfigError` (on the command line:
exit code 2 and an ``error:`` line) — never a traceback, never a config that cannot run.

The dicts are built from the real field specs: each field gets a valid value, a value of another
type, a huge integer, NaN / ±inf, odd unicode or a deeply nested list; plus unknown keys, fields
of the first release's layout and top levels that are not tables.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pruning_core.__main__ import main
from pruning_core.config import Config, ConfigError, field_specs, to_toml
from pruning_core.config.layers import pruned_kinds
from pruning_core.config.migrate import V1_ALGORITHM, V1_PRUNER
from pruning_core.config.values import flat_values, set_dotted

FUZZ = settings(derandomize=True, deadline=None, max_examples=400, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
CLI = settings(FUZZ, max_examples=150)

DEVICE = re.compile(r"auto|cpu|cuda|cuda:(0|[1-9][0-9]*)|mps", re.ASCII)
SEED_MAX = 2**32 - 1
ODD_TEXT = ["", " ", "\x00", "..", "../data", "a/../b", "a\\..\\b", "cuda:٣", "cuda:00", "cuda:", "CPU", "cuda:1\n",
            "\u202e", "\ud800", "😀", "données", "null", "NaN", "1e400", "x" * 5000]
HUGE = [10**400, -(10**400), 2**63, 2**64, 2**32, SEED_MAX, 201_000_000, 10**6, 100_001, -1, 0]


def nested(depth: int, kind: str = "list"):
    value: object = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def plugin_specs(chosen: dict) -> list:
    return [s for s in field_specs(values=chosen) if s.plugin is not None]


def valid_value(spec) -> st.SearchStrategy:
    """A value of the field's type within its bounds (which may still break a cross-field rule)."""
    if spec.choices is not None:
        return st.sampled_from(spec.choices)
    if spec.type == "bool":
        return st.booleans()
    if spec.type == "str":
        return st.sampled_from(["cpu", "cuda:0", "cache/data", "/tmp/data"]) | st.text(max_size=12)
    if spec.type == "list[int]":
        return st.lists(st.integers(0, 12), max_size=4)
    low = spec.low if spec.low is not None else -1e6
    if spec.type == "int":
        return st.integers(int(math.ceil(low)), int(spec.high if spec.high is not None else 10**6))
    return st.floats(low, spec.high if spec.high is not None else 1e6, allow_nan=False, allow_infinity=False,
                     exclude_min=spec.low_open, exclude_max=spec.high_open)


def any_value(spec) -> st.SearchStrategy:
    """Mostly valid, otherwise anything a JSON or TOML file could hold, and worse."""
    return st.one_of(
        valid_value(spec), valid_value(spec), valid_value(spec),
        st.sampled_from(HUGE), st.floats(), st.sampled_from(ODD_TEXT), st.none(), st.booleans(),
        st.lists(st.integers() | st.text(max_size=3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                                   max_size=2),
        st.integers(17, 3000).map(nested), st.integers(17, 3000).map(lambda d: nested(d, "dict")))


@st.composite
def config_dicts(draw) -> object:
    """A partial config dict from the field specs (plug-ins chosen first, then their options)."""
    chosen: dict = {}
    for _ in range(2):                          # a chosen plug-in may bring a nested choice (a schedule)
        for spec in plugin_specs(chosen):
            if spec.path not in chosen and draw(st.booleans()):
                chosen[spec.path] = draw(st.sampled_from(spec.choices))
    data: dict = {}
    for path, name in chosen.items():
        set_dotted(data, path, name)
    specs = [s for s in field_specs(values=chosen) if s.plugin is None]
    values = valid_value if draw(st.booleans()) else any_value       # half the dicts: only valid values
    for spec in draw(st.lists(st.sampled_from(specs), max_size=6, unique_by=lambda s: s.path)):
        set_dotted(data, spec.path, draw(values(spec)))
    extra = draw(st.integers(0, 29))
    if extra == 0:
        data[draw(st.sampled_from(["colour", "ü", "", "1", "training.epochs"]))] = draw(st.integers())
    elif extra == 1:
        section, defaults = draw(st.sampled_from([("pruner", V1_PRUNER), ("algorithm", V1_ALGORITHM)]))
        first = data.setdefault(section, {}) if isinstance(data.get(section, {}), dict) else {}
        for key in draw(st.lists(st.sampled_from(sorted(defaults)), min_size=1, max_size=3, unique=True)):
            first[key] = draw(st.sampled_from([defaults[key], "weights", "none", "default", "filters", "aiap",
                                               "asni", 3, 0.5, None, 10**400, float("nan"), [1]]))
    elif extra == 2:
        return draw(st.sampled_from([None, [], 0, False, "", [data], nested(3000), nested(3000, "dict")]))
    elif extra == 3:
        data[draw(st.sampled_from(["model", "dataset", "pruner", "algorithm", "training", "analysis"]))] = \
            draw(st.sampled_from([[], "x", 3, None, nested(50)]))
    return data


def check_invariants(config: Config) -> None:
    """What every accepted config guarantees: it can be run, seeded, planned and saved."""
    assert 0 <= config.seed and config.seed + config.repeats - 1 <= SEED_MAX
    assert config.plan().total_epochs() * config.repeats <= 100_000
    assert DEVICE.fullmatch(config.device)
    data_dir = config.dataset.data_dir
    if data_dir is not None:
        assert data_dir.strip() and data_dir.isprintable() and ".." not in re.split(r"[\\/]", data_dir)
    assert pruned_kinds(config) != []                       # something is pruned
    for path, value in flat_values(config.to_dict()).items():
        if isinstance(value, float):
            assert math.isfinite(value), path
    again = Config.from_dict(config.to_dict())
    assert again == config and again.hash() == config.hash()
    assert Config.from_dict(tomllib.loads(to_toml(config))) == config


@FUZZ
@given(config_dicts())
def test_from_dict_gives_a_runnable_config_or_a_config_error(data):
    try:
        config = Config.from_dict(data)
    except ConfigError as exc:
        assert exc.errors and len(str(exc)) < 20_000
        return
    check_invariants(config)


def _outcome(capsys, argv: list[str]) -> None:
    """main(argv) returns 0 with a config that keeps the invariants, or 2 with an error line."""
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if code == 0:
        check_invariants(Config.from_dict(json.loads(captured.out)))
    else:
        assert code == 2 and captured.err.startswith("error: ") and captured.out == "", (argv, captured.err)


def _json(value: object) -> str:
    try:
        return json.dumps(value)
    except (ValueError, RecursionError):
        return "[" * 3000 + "]" * 3000


@st.composite
def overrides(draw) -> str:
    specs = field_specs()
    key = draw(st.sampled_from([s.path for s in specs]) | st.sampled_from(["", " ", ".", "a..b", "seed.x", "training",
                                                                          "pruner.score.name.x", "ü", "x=y"]))
    spec = draw(st.sampled_from(specs))
    raw = draw(any_value(spec).map(_json) | st.text(max_size=20) |
               st.sampled_from(["", "=", "NaN", "-Infinity", "1e400", "9" * 5000, "[1,", "\x00", "[" * 100_000]))
    return f"{key}={raw}"


@CLI
@given(st.lists(overrides(), min_size=1, max_size=3))
def test_cli_overrides_end_in_a_config_or_one_error(capsys, items):
    _outcome(capsys, ["defaults", *(f"--set={item}" for item in items)])


SPECIAL_FILES = [b"null", b"[]", b"0", b"false", b'""', b"", b"\x00", b"\xff\xfe", b"[" * 100_000,
                 b"a = " + b"[" * 100_000, b'{"a": ' * 5_000, b"x = {a = " * 5_000, "seed = 1".encode("utf-16"),
                 b'{"seed": 1, "seed": 2}', b"seed = " + b"9" * 5000, b"\xef\xbb\xbf{}"]


@st.composite
def config_files(draw) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return draw(st.sampled_from(SPECIAL_FILES))
    data = draw(config_dicts())
    if kind == 2:
        return _json(data).encode()
    try:                                         # TOML: the valid config of the dict, or its flat keys
        return to_toml(Config.from_dict(data)).encode()
    except ConfigError:
        try:
            flat = flat_values(data) if isinstance(data, dict) else {}
        except RecursionError:
            flat = {"a": 1}
        return "\n".join(f"{k!s} = {_json(v)}" for k, v in flat.items()).encode(errors="replace")


@CLI
@given(config_files(), st.sampled_from([".json", ".toml", ".JSON", ".txt", "", "/missing.json", "/"]),
       st.lists(overrides(), max_size=1))
def test_cli_config_files_end_in_a_config_or_one_error(capsys, content, suffix, items):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("missing.json" if suffix == "/missing.json" else "folder.toml" if suffix == "/"
                            else "config" + suffix)
        if suffix == "/":
            path.mkdir()
        elif not suffix.startswith("/"):
            path.write_bytes(content)
        _outcome(capsys, ["defaults", "--config", str(path), *(f"--set={item}" for item in items)])


@pytest.mark.parametrize("data", [None, {}, {"seed": SEED_MAX}, {"model": {"name": "conv2"}, "device": "cuda:3"}])
def test_the_invariants_hold_for_ordinary_configs(data):
    check_invariants(Config.from_dict(data))
