"""Config values: building a section from a partial dict (every problem a :class:`FieldError`),
writing it back as a dict, refusing values that would not act, applying a chosen method's
suggested values, and dotted-path helpers. The metadata it reads comes from :mod:`.fields`."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

from .fields import (ConfigError, FieldError, allowed_names, applies, choices_of, describe_condition, field_specs,
                     is_choice, number_text, plugin_name, type_hints, type_name, upper_bound)

MAX_DEPTH = 16
"""How deeply a raw config may nest tables and lists: the schema's own tables go 3 deep
(``algorithm.lr_policy.name``), so anything deeper is a mistake (and would exhaust the stack)."""


def nesting_error(data: Any, limit: int = MAX_DEPTH) -> FieldError | None:
    """A :class:`FieldError` at the first place where ``data`` nests tables/lists more than
    ``limit`` levels deep, else None. Iterative: any depth is measured without recursion."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth >= limit:
            return FieldError(path or "config", node, f"a value nested at most {limit} levels deep "
                              "(a config's tables go 3 deep)")
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            child = path if isinstance(node, list) else (f"{path}.{key}" if path else str(key))
            stack.append((value, child, depth + 1))
    return None


def build_section(cls: type, data: Any, prefix: str, errors: list[FieldError]) -> Any:
    """An instance of ``cls`` from a partial dict; each problem is appended to ``errors``."""
    if not isinstance(data, dict):
        errors.append(FieldError(prefix.rstrip(".") or "config", data, "a table/object of fields"))
        return cls()
    hints = type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            owner = f" of {cls.plugin_name}" if hasattr(cls, "plugin_name") else ""
            errors.append(FieldError(prefix + str(key), data[key],
                                     f"a known key{owner}; this section has: {', '.join(names) or 'no options'}"))
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        path = prefix + f.name
        if is_choice(f):
            kwargs[f.name] = _build_choice(f, data[f.name], path, errors)
            continue
        kind, optional = type_name(hints[f.name])
        if kind == "section":
            kwargs[f.name] = build_section(hints[f.name], data[f.name], path + ".", errors)
            continue
        value = _coerce(data[f.name], kind, optional, f.metadata, path, errors)
        if value is not _INVALID:
            kwargs[f.name] = value
    return cls(**kwargs)


def _chosen(f: dataclasses.Field, raw: Any) -> tuple[str | None, dict]:
    """(the plug-in name, its options) a raw value of a choice field gives: a bare name, a table
    with "name" (default: the field's), or nothing; (None, {}) for anything else."""
    if isinstance(raw, str):
        return raw, {}
    if raw is None or isinstance(raw, dict):
        raw = raw or {}
        return raw.get("name", f.metadata["default_name"]), {k: v for k, v in raw.items() if k != "name"}
    return None, {}


def _build_choice(f: dataclasses.Field, raw: Any, path: str, errors: list[FieldError]) -> Any:
    registry = f.metadata["registry"]
    name, options = _chosen(f, raw)
    if name is None:
        errors.append(FieldError(path, raw, f"a {registry.kind} name or a table with 'name' and its options"))
        return registry.get(f.metadata["default_name"])()
    names = allowed_names(f)
    if name not in names:
        errors.append(FieldError(path + ".name", name, "one of " + ", ".join(names)))
        return registry.get(f.metadata["default_name"])()
    return build_section(registry.get(name), options, path + ".", errors)


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
        try:
            value = float(value)
        except OverflowError:              # an integer beyond the float range
            ok = False
        ok = ok and math.isfinite(value)
    choices = choices_of(meta)
    if ok and choices is not None:
        ok = value in choices
    if ok and kind in ("int", "float"):
        low, high = meta["low"], upper_bound(kind, meta)
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
    choices = choices_of(meta)
    if choices is not None:
        text = "one of " + ", ".join(map(str, choices))
    else:
        text = {"int": "an integer", "float": "a number", "bool": "true or false",
                "str": "a string", "list[int]": "a list of integers"}[kind]
        low, high = meta["low"], upper_bound(kind, meta)
        if low is not None and high is not None:
            text += (f" in {'(' if meta['low_open'] else '['}{number_text(low)}, "
                     f"{number_text(high)}{')' if meta['high_open'] else ']'}")
        elif low is not None:
            text += f" {'>' if meta['low_open'] else '>='} {number_text(low)}"
        elif high is not None:
            text += f" {'<' if meta['high_open'] else '<='} {number_text(high)}"
    return text + (" or null" if optional else "")


def to_dict(obj: Any) -> dict:
    """A section as a JSON-ready nested dict; a plug-in choice as ``{"name": ..., options...}``."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if is_choice(f):
            out[f.name] = {"name": plugin_name(value), **to_dict(value)}
        elif dataclasses.is_dataclass(value):
            out[f.name] = to_dict(value)
        else:
            out[f.name] = list(value) if isinstance(value, list) else value
    return out


def flat_values(data: dict, prefix: str = "") -> dict[str, Any]:
    """{"a.b": value} of a nested dict (a plug-in choice gives "a.name" and its options)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat_values(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def inactive_errors(config: Any) -> list[FieldError]:
    """Fields set away from their default where their ``when`` condition does not hold: such a
    value would be ignored, so it is refused with the condition under which the field acts."""
    values = flat_values(to_dict(config))
    errors = []
    for spec in field_specs(type(config), values):
        if spec.plugin is None and not applies(spec, values) and values.get(spec.path) != spec.default:
            errors.append(FieldError(spec.path, values.get(spec.path),
                                     f"{spec.default!r} (the default): this field acts only when "
                                     f"{describe_condition(spec.when)}"))
    return errors


def apply_suggestions(cls: type, data: dict) -> tuple[dict, set[str]]:
    """(a copy of ``data`` where every field a chosen plug-in suggests — ``suggests`` on its class
    — and that ``data`` does not give takes the suggested value, the dotted paths so set)."""
    if not isinstance(data, dict):
        return data, set()
    data = copy.deepcopy(data)
    given = set(flat_values(data))
    suggested: set[str] = set()
    for _ in range(3):                     # a suggested choice may suggest further fields
        changed = False
        for plugin in _chosen_plugins(cls, data):
            for dotted, value in getattr(plugin, "suggests", {}).items():
                if dotted not in given and _get_dotted(data, dotted) != value:
                    set_dotted(data, dotted, value)
                    suggested.add(dotted)
                    changed = True
        if not changed:
            break
    return data, suggested


def _chosen_plugins(cls: type, data: Any, prefix: str = "") -> list[type]:
    """The plug-in classes a partial dict chooses (or the defaults), walking the schema."""
    out = []
    if not isinstance(data, dict):
        data = {}
    hints = type_hints(cls)
    for f in dataclasses.fields(cls):
        raw = data.get(f.name)
        if is_choice(f):
            name, options = _chosen(f, raw)
            if name in allowed_names(f):
                plugin = f.metadata["registry"].get(name)
                out.append(plugin)
                out += _chosen_plugins(plugin, options, prefix + f.name + ".")
        elif type_name(hints[f.name])[0] == "section":
            out += _chosen_plugins(hints[f.name], raw, prefix + f.name + ".")
    return out


def _get_dotted(data: dict, dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if isinstance(node, str) and part == "name":
            return node
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def delete_dotted(data: dict, dotted: str) -> None:
    """Remove ``dotted`` from a nested dict if present (a plug-in's ``name`` resets it)."""
    *parents, leaf = dotted.split(".")
    node: Any = data
    for part in parents:
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    if isinstance(node, dict):
        node.pop(leaf, None)


def set_dotted(data: dict, dotted: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for ``dotted = "a.b"``, creating sections as needed.

    A plug-in choice written as a bare name (``"score": "snip"``) becomes ``{"name": "snip"}``
    when one of its options is set."""
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        if isinstance(node.get(part), str):
            node[part] = {"name": node[part]}
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError([FieldError(dotted, value, f"'{part}' is not a section")])
    node[leaf] = value
