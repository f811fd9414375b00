"""Typed-dataclass machinery: field metadata, errors that name the field, the choice of a
registered plug-in with its own options (a discriminated union), and the field descriptions the
app's form and the docs are generated from (:mod:`.values` builds and checks values from them).
Nothing here knows the schema.

Two kinds of field:

* :func:`option` — a number, flag, string or list with its help text, bounds, allowed values and
  ``when``: the condition under which it acts. A value other than the default for a field whose
  condition does not hold is refused (:func:`inactive_errors`): a value is never silently ignored.
* :func:`choice` — a plug-in chosen by name from a :class:`~pruning_core.registry.Registry`. In a
  config it is written ``{"name": "magnitude", "norm": "l2"}`` (or just ``"magnitude"``); the
  chosen class is a frozen dataclass whose fields are that plug-in's options, so each method owns
  its section. A plug-in may declare ``suggests = {"pruner.unit": "output_filter"}``: values that
  other fields take when the config does not give them, so choosing a method picks valid defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import reprlib
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
        return f"{shown(self.field, quoted=False)}: got {shown(self.value)}; allowed: {self.allowed}"


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxlong, _REPR.maxother = 3, 80, 40, 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8


def shown(value: Any, quoted: bool = True) -> str:
    """``value`` for an error message: its repr, cut short (long strings and huge numbers are
    abbreviated, deep nesting shown as ``[[[...]]]``), on one line. ``quoted=False``: a string
    as it is (a field name), unless it holds characters that are not printable."""
    if isinstance(value, str) and not quoted and value.isprintable() and len(value) <= 120:
        return value
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError):      # an int beyond str()'s digit limit, a cyclic value
        text = f"<an integer of {value.bit_length()} bits>" if isinstance(value, int) else \
            f"<a {type(value).__name__}>"
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def number_text(x: float) -> str:
    """A bound as the messages and the docs write it: ``4294967295``, ``0.5``, ``1e-08``."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


class ConfigError(ValueError):
    """A config that failed validation; ``errors`` lists every offending field."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        super().__init__("invalid config:\n  " + "\n  ".join(str(e) for e in self.errors))

    def for_field(self, dotted: str) -> list[FieldError]:
        """The errors about one field (the app shows them next to its widget)."""
        return [e for e in self.errors if e.field == dotted]


# --------------------------------------------------------------------------------------------
# Field declarations
# --------------------------------------------------------------------------------------------

INT_CEILING = 100_000
"""The upper bound of an integer option that declares no ``high`` (epochs, batch sizes, rounds
of a plug-in …): a value beyond it is a typo, and would make a run that never ends."""


def upper_bound(kind: str, meta: dict) -> float | None:
    """The ``high`` a value of a field must respect: the declared one, else :data:`INT_CEILING`
    for an integer, else none."""
    if meta.get("high") is not None:
        return meta["high"]
    return INT_CEILING if kind == "int" else None


When = dict[str, tuple] | tuple[dict[str, tuple], ...]


class Not(tuple):
    """In a ``when`` condition: any value except these, e.g. ``Not(("replay",))``."""

    def __contains__(self, value: object) -> bool:
        return not tuple.__contains__(self, value)

    def __repr__(self) -> str:
        return f"Not({tuple(self)!r})"


def option(default: Any, help: str, *, choices: Any = None, low: float | None = None,
           high: float | None = None, low_open: bool = False, high_open: bool = False,
           when: When | None = None, label: str | None = None, example: Any = None,
           affects_result: bool = True, choice_labels: dict[str, str] | None = None) -> Any:
    """A dataclass field with the metadata that validation, the form and the docs read.

    * ``choices``: allowed values, a tuple or a registry (its names, read when validating);
    * ``low``/``high``: bounds of a number (open bounds exclude the end point); an integer
      without ``high`` is bounded by :data:`INT_CEILING`;
    * ``when``: ``{dotted field: allowed values}`` under which this field acts (all must hold),
      or a tuple of such dicts (any one suffices). Elsewhere only its default is accepted;
    * ``label``: the form's label (default: from the name); ``example``: the value the form
      starts from when an optional field is switched on;
    * ``affects_result=False``: where or how fast a run happens (device, data dir), not what it
      computes; left out of the config hash.
    """
    meta = {"help": help, "choices": choices, "low": low, "high": high, "low_open": low_open,
            "high_open": high_open, "when": when or {}, "label": label, "example": example,
            "affects_result": affects_result, "choice_labels": choice_labels or {}}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def choice(registry: Any, default: str, help: str, *, allowed: tuple[str, ...] | None = None,
           label: str | None = None) -> Any:
    """A field holding one plug-in of ``registry`` (an instance of its options dataclass).

    ``allowed`` restricts the names (e.g. an algorithm that only works with one schedule)."""
    meta = {"registry": registry, "allowed": allowed, "help": help, "label": label, "default_name": default}
    return field(default_factory=lambda: registry.get(default)(), metadata=meta)


def is_choice(f: dataclasses.Field) -> bool:
    return "registry" in f.metadata


def allowed_names(f: dataclasses.Field) -> tuple[str, ...]:
    names = f.metadata["registry"].names()
    allowed = f.metadata["allowed"]
    return tuple(n for n in names if allowed is None or n in allowed)


def plugin_name(value: Any) -> str:
    """The registered name of a plug-in instance (set on its class by the registry)."""
    return type(value).plugin_name


# --------------------------------------------------------------------------------------------
# Field descriptions for the app's form and the docs
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldSpec:
    """One leaf field: dotted path, type name, default and the metadata the form renders.

    A plug-in choice appears as ``<path>.name`` (type "str", ``plugin`` set to the registry
    kind), followed by the chosen plug-in's options. ``choice_labels`` / ``choice_help`` give
    each allowed value's label and help (from the registry, for registered names)."""

    path: str
    type: str          # "int" | "float" | "bool" | "str" | "list[int]"
    optional: bool     # None/null allowed
    default: Any
    help: str
    choices: tuple | None
    low: float | None
    high: float | None
    when: When
    label: str = ""
    example: Any = None
    affects_result: bool = True
    plugin: str | None = None
    choice_labels: dict = dataclasses.field(default_factory=dict)
    choice_help: dict = dataclasses.field(default_factory=dict)
    low_open: bool = False
    high_open: bool = False


def _choice_texts(meta: dict) -> tuple[dict, dict]:
    """({value: label}, {value: help}) of a field's choices (registered names: from the registry)."""
    choices = meta["choices"]
    if hasattr(choices, "entry"):
        entries = [choices.entry(n) for n in choices.names()]
        return {e.name: e.label for e in entries}, {e.name: e.help for e in entries}
    return dict(meta["choice_labels"]), {}


def choices_of(meta: dict) -> tuple | None:
    choices = meta["choices"]
    if choices is None:
        return None
    return tuple(choices.names()) if hasattr(choices, "names") else tuple(choices)


def _label(name: str, given: str | None) -> str:
    if given:
        return given
    text = name.replace("_", " ")
    return text[0].upper() + text[1:]


@functools.lru_cache(maxsize=None)
def type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints(cls)``, evaluated once per class (it compiles every annotation
    string anew on each call: 70 % of validating a config before this cache)."""
    return typing.get_type_hints(cls)


def field_specs(cls: type, values: dict[str, Any] | None = None, prefix: str = "") -> list[FieldSpec]:
    """Every leaf field of the section ``cls`` in declaration order, with each plug-in choice
    expanded into the options of the plug-in ``values`` names (else its default)."""
    values = values or {}
    specs: list[FieldSpec] = []
    hints = type_hints(cls)
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        if is_choice(f):
            names = allowed_names(f)
            chosen = values.get(path + ".name", f.metadata["default_name"])
            if chosen not in names:
                chosen = f.metadata["default_name"]
            registry = f.metadata["registry"]
            entries = [registry.entry(n) for n in names]
            specs.append(FieldSpec(path + ".name", "str", False, f.metadata["default_name"], f.metadata["help"],
                                   names, None, None, {}, label=_label(f.name, f.metadata["label"]),
                                   plugin=registry.kind, choice_labels={e.name: e.label for e in entries},
                                   choice_help={e.name: e.help for e in entries}))
            specs += field_specs(registry.get(chosen), values, path + ".")
            continue
        kind, optional = type_name(hints[f.name])
        if kind == "section":
            specs += field_specs(hints[f.name], values, path + ".")
            continue
        m = f.metadata
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        labels, helps = _choice_texts(m)
        specs.append(FieldSpec(path, kind, optional, default, m["help"], choices_of(m), m["low"],
                               upper_bound(kind, m),
                               m["when"], _label(f.name, m["label"]), m["example"], m["affects_result"],
                               choice_labels=labels, choice_help=helps, low_open=m["low_open"],
                               high_open=m["high_open"]))
    return specs


def applies(spec: FieldSpec, values: dict[str, Any]) -> bool:
    """Whether a field acts given the current dotted values (the form hides it otherwise)."""
    return condition_holds(spec.when, values)


def condition_holds(when: When, values: dict[str, Any]) -> bool:
    alternatives = when if isinstance(when, tuple) else (when,)
    return any(all(values.get(k) in allowed for k, allowed in cond.items()) for cond in alternatives)


def describe_condition(when: When) -> str:
    """'pruner.unit is input_channel or output_filter', alternatives joined by '; or '."""
    alternatives = when if isinstance(when, tuple) else (when,)
    parts = []
    for cond in alternatives:
        parts.append(", ".join(f"{k} is {'not ' if isinstance(allowed, Not) else ''}"
                               f"{' or '.join('null' if v is None else str(v) for v in tuple(allowed))}"
                               for k, allowed in cond.items()))
    return "; or ".join(parts)


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
