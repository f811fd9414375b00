"""Configs from and to files: partial JSON/TOML plus dotted overrides in, TOML out."""

from __future__ import annotations

import json
import pathlib
import tomllib

from .fields import ConfigError, FieldError, set_dotted
from .schema import Config

def defaults() -> Config:
    """The complete default config."""
    return Config()


def load_config(path: str | pathlib.Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a partial JSON or TOML file (by extension), apply ``key=value`` overrides, validate.

    Override values are parsed as JSON where possible (``3``, ``0.5``, ``null``, ``true``,
    ``[80, 120]``) and taken as strings otherwise (``adam``).
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


def to_toml(config: Config) -> str:
    """The config as TOML (``null`` fields are omitted: they load back as their default null)."""
    data = config.to_dict()
    lines = [f"{k} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, values in data.items():
        if isinstance(values, dict):
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"
