"""Typed-dataclass machinery: field metadata, validation with errors that name the field, and
the field descriptions the app's form is generated from. Nothing here knows the schema."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldError:
    """One invalid value: the dotted field name, the value given, and what is allowed."""

    field: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        return f"{self.field}: got {self.value!r}; allowed: {self.allowed}"


class ConfigError(ValueError):
    """A config that failed validation; ``errors`` lists every offending field."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        super().__init__("invalid config:\n  " + "\n  ".join(str(e) for e in self.errors))

    def for_field(self, dotted: str) -> list[FieldError]:
        """The errors about one field (the app shows them next to its widget)."""
        return [e for e in self.errors if e.field == dotted]


# --------------------------------------------------------------------------------------------
# Field metadata
# --------------------------------------------------------------------------------------------

def option(default: Any, help: str, *, choices: tuple | None = None, low: float | None = None,
           high: float | None = None, low_open: bool = False, high_open: bool = False,
           when: dict[str, tuple] | tuple[dict[str, tuple], ...] | None = None) -> Any:
    """A dataclass field with the metadata that validation and the app's form read.

    ``low``/``high`` bound numbers (open bounds exclude the end point); ``when`` maps a dotted
    field to the values for which this option applies, e.g. ``{"algorithm.rewind": ("weights",)}``
    (all conditions must hold), or is a tuple of such dicts, any one of which suffices.
    """
    meta = {"help": help, "choices": choices, "low": low, "high": high,
            "low_open": low_open, "high_open": high_open, "when": when or {}}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------------------------------
# Field descriptions for the app's form
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldSpec:
    """One leaf field: dotted path, type name, default and the metadata the form renders."""

    path: str
    type: str          # "int" | "float" | "bool" | "str" | "list[int]"
    optional: bool     # None/null allowed
    default: Any
    help: str
    choices: tuple | None
    low: float | None
    high: float | None
    when: dict[str, tuple] | tuple[dict[str, tuple], ...]


def field_specs(cls: type | None = None, prefix: str = "") -> list[FieldSpec]:
    """Every leaf field of the config (default: the whole :class:`Config`), in declaration order."""
    if cls is None:
        from .schema import Config
        cls = Config
    specs: list[FieldSpec] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        kind, optional = type_name(hints[f.name])
        if kind == "section":
            specs += field_specs(hints[f.name], path + ".")
            continue
        m = f.metadata
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        specs.append(FieldSpec(path, kind, optional, default, m["help"], m["choices"], m["low"],
                               m["high"], m["when"]))
    return specs


def applies(spec: FieldSpec, values: dict[str, Any]) -> bool:
    """Whether a field applies given the current dotted values (the form hides it otherwise)."""
    alternatives = spec.when if isinstance(spec.when, tuple) else (spec.when,)
    return any(all(values.get(k) in allowed for k, allowed in cond.items()) for cond in alternatives)


# --------------------------------------------------------------------------------------------
# Validation internals
# --------------------------------------------------------------------------------------------

def type_name(hint: Any) -> tuple[str, bool]:
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    if dataclasses.is_dataclass(hint):
        return "section", optional
    if typing.get_origin(hint) is list:
        return "list[int]", optional
    return {int: "int", float: "float", bool: "bool", str: "str"}[hint], optional


def build_section(cls: type, data: Any, prefix: str, errors: list[FieldError]) -> Any:
    if not isinstance(data, dict):
        errors.append(FieldError(prefix.rstrip(".") or "config", data, "a table/object of fields"))
        return cls()
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            errors.append(FieldError(prefix + str(key), data[key],
                                     f"a known key; this section has: {', '.join(names)}"))
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        path = prefix + f.name
        kind, optional = type_name(hints[f.name])
        if kind == "section":
            kwargs[f.name] = build_section(hints[f.name], data[f.name], path + ".", errors)
            continue
        value = _coerce(data[f.name], kind, optional, f.metadata, path, errors)
        if value is not _INVALID:
            kwargs[f.name] = value
    return cls(**kwargs)


_INVALID = object()


def _coerce(value: Any, kind: str, optional: bool, meta: dict, path: str,
            errors: list[FieldError]) -> Any:
    """Check one leaf value against its type, choices and bounds; record a FieldError if wrong."""
    if value is None:
        if optional:
            return None
        errors.append(FieldError(path, value, _describe(kind, meta)))
        return _INVALID
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "list[int]": isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                                     for v in value),
    }[kind]
    given = value
    if ok and kind == "float":
        value = float(value)
        ok = math.isfinite(value)
    if ok and meta["choices"] is not None:
        ok = value in meta["choices"]
    if ok and kind in ("int", "float"):
        low, high = meta["low"], meta["high"]
        if low is not None:
            ok = value > low if meta["low_open"] else value >= low
        if ok and high is not None:
            ok = value < high if meta["high_open"] else value <= high
    if not ok:
        errors.append(FieldError(path, given, _describe(kind, meta, optional)))
        return _INVALID
    return value


def _describe(kind: str, meta: dict, optional: bool = False) -> str:
    """Human wording of what a field accepts, e.g. 'a number in (0, 1)' or 'one of sgd, adam'."""
    if meta["choices"] is not None:
        text = "one of " + ", ".join(map(str, meta["choices"]))
    else:
        text = {"int": "an integer", "float": "a number", "bool": "true or false",
                "str": "a string", "list[int]": "a list of integers"}[kind]
        low, high = meta["low"], meta["high"]
        if low is not None and high is not None:
            text += f" in {'(' if meta['low_open'] else '['}{low:g}, {high:g}{')' if meta['high_open'] else ']'}"
        elif low is not None:
            text += f" {'>' if meta['low_open'] else '>='} {low:g}"
        elif high is not None:
            text += f" {'<' if meta['high_open'] else '<='} {high:g}"
    return text + (" or null" if optional else "")




def set_dotted(data: dict, dotted: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for ``dotted = "a.b"``, creating sections as needed."""
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError([FieldError(dotted, value, f"'{part}' is not a section")])
    node[leaf] = value
