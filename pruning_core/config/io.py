"""Configs from and to files: partial JSON/TOML plus dotted overrides in, TOML out."""

from __future__ import annotations

import json
import pathlib
import tomllib
from typing import Any

from .fields import ConfigError, FieldError
from .values import set_dotted
from .schema import Config


def defaults() -> Config:
    """The complete default config."""
    return Config()


def load_config(path: str | pathlib.Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a partial JSON or TOML file (by extension), apply ``key=value`` overrides, validate.

    Override values are parsed as JSON where possible (``3``, ``0.5``, ``null``, ``true``,
    ``[80, 120]``) and taken as strings otherwise (``adam``). A plug-in choice can be replaced
    by name (``pruner.score=snip``: its options start from their defaults) or have one option
    set (``pruner.score.batch=128``).
    """
    data: dict = {}
    if path is not None:
        path = pathlib.Path(path)
        text = path.read_text()
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise ConfigError([FieldError("--config", str(path), "a .json or .toml file")])
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError([FieldError("--set", item, "dotted.key=value, e.g. training.epochs=3")])
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        set_dotted(data, key.strip(), value)
    return Config.from_dict(data)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


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
