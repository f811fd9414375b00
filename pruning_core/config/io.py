"""Configs from and to files: partial JSON/TOML plus dotted overrides in, TOML out.

Whatever a file or an override holds, reading it ends in a :class:`Config` or a
:class:`~.fields.ConfigError`: a file that cannot be read, is not UTF-8 text, holds NUL bytes,
is not valid JSON/TOML, nests too deeply or has no table at its top level is refused with a
message naming the file and the reason (:class:`ConfigFileError`).
"""

from __future__ import annotations

import json
import pathlib
import tomllib
from typing import Any

from .fields import ConfigError, FieldError, shown
from .values import MAX_DEPTH, nesting_error, set_dotted
from .schema import Config

MAX_FILE_BYTES = 1_000_000
"""The largest config file read (a complete config is about 2 kB)."""
EXAMPLE = '{"training": {"epochs": 3}}'


class ConfigFileError(ConfigError):
    """A config file (or ``--json`` text) that cannot be used as one: ``cannot read config PATH:
    REASON``. Its one :class:`~.fields.FieldError` names ``--config`` (the form shows it there)."""

    def __init__(self, source: str | pathlib.Path, reason: str, field: str = "--config"):
        super().__init__([FieldError(field, str(source), reason)])
        self.source, self.reason = str(source), reason
        self.args = (f"cannot read config {shown(str(source), quoted=False)}: {reason}",)


def defaults() -> Config:
    """The complete default config."""
    return Config()


def read_config_file(path: str | pathlib.Path) -> dict:
    """The partial config dict a .json or .toml file holds (by extension, any case).

    Raises :class:`ConfigFileError` when the file is missing, a folder, unreadable, larger than
    :data:`MAX_FILE_BYTES`, not UTF-8 text (a BOM is allowed), holds a NUL byte, or is not a
    table of valid JSON/TOML nested at most :data:`~.values.MAX_DEPTH` levels.
    """
    path = pathlib.Path(path)
    fmt = {".json": "json", ".toml": "toml"}.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError([FieldError("--config", str(path), "a .json or .toml file")])
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigFileError(path, exc.strerror or str(exc)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigFileError(path, f"larger than {MAX_FILE_BYTES} bytes (a config is a few kB)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(path, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                              "a binary file?") from None
    return parse_config_text(text, fmt, path)


def parse_config_text(text: str, fmt: str, source: str | pathlib.Path, field: str = "--config") -> dict:
    """The partial config dict of JSON (``fmt="json"``) or TOML text; :class:`ConfigFileError`
    naming ``source`` if it is not one (NUL bytes, invalid syntax, a key given twice, too deep,
    a top level that is not an object)."""
    if "\x00" in text:
        raise ConfigFileError(source, f"holds a NUL byte at offset {text.index(chr(0))}; a binary file?", field)
    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ConfigFileError(source, f"nested too deeply (a config nests at most {MAX_DEPTH} levels)", field) from None
    except ValueError as exc:              # JSONDecodeError, TOMLDecodeError, a key twice, too many digits
        reason = str(exc).split("; use sys.set_int_max_str_digits")[0]
        raise ConfigFileError(source, f"not valid {fmt.upper()}: {reason}", field) from None
    if not isinstance(data, dict):
        raise ConfigFileError(source, f"its top level is {_kind(data)}; allowed: an object of config sections, "
                              f"e.g. {EXAMPLE}", field)
    too_deep = nesting_error(data)
    if too_deep is not None:
        raise ConfigFileError(source, f"{too_deep.field} is nested too deeply; allowed: {too_deep.allowed}", field)
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object as a dict, refusing a key given twice (JSON would keep the last silently)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {shown(key)} given twice in one object")
        out[key] = value
    return out


def _kind(value: Any) -> str:
    """A JSON value's kind in words ("null", "a list", …)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "false" if not value else "true"
    return {list: "a list", str: "a string"}.get(type(value), "a number")


def parse_override(item: str) -> tuple[str, Any]:
    """(dotted key, value) of one ``key=value`` override: the value parsed as JSON where possible,
    else the text itself; ConfigError for a missing ``=`` or key, or a value nested too deeply."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError([FieldError("--set", item, "dotted.key=value, e.g. training.epochs=3")])
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ConfigError([FieldError(key, raw, f"a value nested at most {MAX_DEPTH} levels deep")]) from None
    except ValueError:                     # not JSON (or digits beyond the limit): a plain string
        value = raw
    return key, value


def load_config(path: str | pathlib.Path | None = None, overrides: list[str] | None = None,
                recipe=None) -> Config:
    """Start from a recipe (a name or a :class:`~pruning_core.recipes.Recipe`, if given), merge a
    partial JSON or TOML file over it (by extension, :func:`read_config_file`), apply ``key=value``
    overrides, validate. Later sources win: recipe < file < overrides.

    Override values are parsed as JSON where possible (``3``, ``0.5``, ``null``, ``true``,
    ``[80, 120]``) and taken as strings otherwise (``adam``). A plug-in choice can be replaced
    by name (``pruner.score=snip``: its options start from their defaults) or have one option
    set (``pruner.score.batch=128``). An unknown recipe is a :class:`ConfigError` naming the
    allowed ones.
    """
    data: dict = {}
    if recipe is not None:
        from ..recipes import get_recipe

        data = get_recipe(recipe).partial()
    if path is not None:
        data = merge_partial(data, read_config_file(path))
    for item in overrides or []:
        key, value = parse_override(item)
        set_dotted(data, key, value)
    return Config.from_dict(data)


def merge_partial(base: dict, over: dict) -> dict:
    """``over`` merged into a copy of ``base``, table by table (``over`` wins). A table that names
    another plug-in than ``base``'s (``{"name": "asni"}`` over ``{"name": "imp", "rounds": 20}``),
    and any value that is not a table, replaces ``base``'s whole."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        same_plugin = isinstance(old, dict) and isinstance(value, dict) and \
            ("name" not in value or value["name"] == old.get("name", value["name"]))
        out[key] = merge_partial(old, value) if same_plugin else value
    return out


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, the rest literal
    (JSON's \\uD83D\\uDE00 surrogate escapes are not valid TOML)."""
    return '"' + "".join(_TOML_ESCAPES.get(ch) or (f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch)
                         for ch in text) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return _toml_string(str(value))


def to_toml(config: Config) -> str:
    """The config as TOML: one table per section (``[algorithm.lr_policy]`` for a plug-in's
    options); ``null`` fields are omitted, since they load back as their default null."""
    lines: list[str] = []

    def table(data: dict, path: str) -> None:
        scalars = [(k, v) for k, v in data.items() if not isinstance(v, dict) and v is not None]
        if path:
            lines.append(f"\n[{path}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars)
        for key, value in data.items():
            if isinstance(value, dict):
                table(value, f"{path}.{key}" if path else key)

    table(config.to_dict(), "")
    return "\n".join(lines).lstrip("\n") + "\n"
