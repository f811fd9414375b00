"""The experiment form, generated from the engine's field metadata (``config.field_specs``).

Every leaf field of :class:`pruning_core.config.Config` becomes a widget: a selectbox for fields
with choices, a number input (with the field's bounds) for numbers, a checkbox for booleans, a
text input for strings and integer lists. An optional field (null allowed) gets a "set" toggle;
while it is off the field is null. A field whose ``when`` condition is false for the current
values is hidden, and left out of the config (so it takes its default, never a stale value).
Validation runs on every change; each error is written under the widget of the field it names.
A new option added to the config appears here without editing any page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from pruning_core.config import Config, ConfigError, FieldError, FieldSpec, applies, field_specs

from .state import WIDGET_PREFIX, draft

SECTION_TITLES = {"model": "Model", "dataset": "Dataset", "pruner": "Pruner",
                  "algorithm": "Schedule / algorithm", "training": "Training", "": "Seeds and device"}
CHOICE_LABELS = {"algorithm.rewind": {"weights": "weights: rewind (WR)", "lr": "learning rate: rewind (LRR)",
                                      "none": "none: fine-tune (FT)"},
                 "algorithm.name": {"imp": "imp: iterative rounds (AIMP with τ)", "one_shot": "one_shot: one round",
                                    "asni": "asni: sigmoid per epoch (ASNI)", "gradual": "gradual: cubic (Zhu & Gupta)",
                                    "bimp": "bimp: budgeted IMP (BIMP)"}}


@dataclass
class FormResult:
    """What the form produced: the values of the fields that apply, and the validation outcome."""

    values: dict[str, Any]                       # dotted -> value (applicable fields only)
    config: Config | None
    errors: list[FieldError] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)

    def nested(self) -> dict:
        return nest(self.values)

    def show_error(self, path: str, message: str) -> None:
        """Write an extra error under a field (e.g. the model does not fit the dataset)."""
        self.errors.append(FieldError(path, self.values.get(path), message))
        if path in self.slots:
            self.slots[path].markdown(f":red[⚠ {message}]")


def nest(dotted: dict[str, Any]) -> dict:
    out: dict = {}
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def specs() -> list[FieldSpec]:
    """The config's field specs (each with its ``when`` condition)."""
    return field_specs()


ACRONYMS = {"lr": "LR", "aiap": "AIAP", "bimp": "BIMP", "topk": "Top-k", "t0": "T0"}


def label(spec: FieldSpec) -> str:
    """'training.lr_schedule' -> 'LR schedule'."""
    words = spec.path.rsplit(".", 1)[-1].split("_")
    text = " ".join(ACRONYMS.get(w, w) for w in words)
    return text[0].upper() + text[1:]


def _suggested(spec: FieldSpec) -> Any:
    """A starting value when an optional number is switched on."""
    if spec.type == "int":
        return int(max(spec.low or 1, 1))
    if spec.low is not None and spec.high is not None:
        return float(round((spec.low + spec.high) / 2, 3))
    return 1.0 if spec.type == "float" else ""


def _step(spec: FieldSpec, value: Any) -> float:
    ref = abs(float(value)) if isinstance(value, (int, float)) and value else 0.0
    if ref == 0.0:
        return 0.01 if spec.high is not None and spec.high <= 1 else 0.1
    return 10.0 ** (math.floor(math.log10(ref)) - 1)


def _init(key: str, value: Any) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def _widget(spec: FieldSpec, key: str, text: str) -> Any:
    """Draw the input for a non-null value of ``spec``; return its value (or a parse error)."""
    help_text = spec.help
    if spec.choices is not None:
        names = CHOICE_LABELS.get(spec.path, {})
        return st.selectbox(text, list(spec.choices), key=key, help=help_text,
                            format_func=lambda v: names.get(v, str(v)))
    if spec.type == "bool":
        return st.checkbox(text, key=key, help=help_text)
    if spec.type in ("int", "float"):
        cast = int if spec.type == "int" else float
        if st.session_state.get(key) is not None:
            st.session_state[key] = cast(st.session_state[key])
        lo = None if spec.low is None else cast(spec.low)
        hi = None if spec.high is None else cast(spec.high)
        if spec.type == "int":
            return st.number_input(text, min_value=lo, max_value=hi, step=1, key=key, help=help_text)
        return st.number_input(text, min_value=lo, max_value=hi, step=_step(spec, st.session_state.get(key)),
                               format="%g", key=key, help=help_text)
    if spec.type == "list[int]":
        raw = st.text_input(text + " (comma-separated)", key=key, help=help_text)
        try:
            return [int(x) for x in raw.replace(";", ",").split(",") if x.strip()]
        except ValueError:
            return ParseError(raw, "integers separated by commas, e.g. 80, 120")
    return st.text_input(text, key=key, help=help_text)


@dataclass(frozen=True)
class ParseError:
    raw: str
    allowed: str


def _initial(spec: FieldSpec, stored: Any) -> Any:
    value = spec.default if stored is None else stored
    if spec.type == "list[int]":
        return ", ".join(str(v) for v in (value or []))
    return value


def render_field(spec: FieldSpec) -> Any:
    """One field: the optional toggle, the widget, and an empty slot for its errors."""
    key, stored = WIDGET_PREFIX + spec.path, draft().get(spec.path, spec.default)
    text = label(spec)
    if spec.optional and spec.type != "bool":
        _init(key + ":set", stored is not None)
        on = st.toggle(f"Set {text.lower()}", key=key + ":set", help=spec.help)
        if not on:
            return None
        _init(key, _initial(spec, stored if stored is not None else _suggested(spec)))
        return _widget(spec, key, text)
    if spec.optional and spec.type == "bool":
        names = {"default": None, "on": True, "off": False}
        _init(key, {None: "default", True: "on", False: "off"}[stored])
        return names[st.selectbox(text, list(names), key=key, help=spec.help)]
    _init(key, _initial(spec, stored))
    return _widget(spec, key, text)


def current_value(spec: FieldSpec) -> Any:
    """The field's value as the user last left it: its widget state, else the draft, else the
    default (used to decide ``when`` conditions on fields drawn later in the form)."""
    key = WIDGET_PREFIX + spec.path
    stored = draft().get(spec.path, spec.default)
    if spec.optional and spec.type != "bool" and key + ":set" in st.session_state:
        if not st.session_state[key + ":set"]:
            return None
        if key not in st.session_state:
            return stored if stored is not None else _suggested(spec)
    if key in st.session_state and spec.type != "list[int]":
        value = st.session_state[key]
        if spec.optional and spec.type == "bool":
            return {"default": None, "on": True, "off": False}.get(value, stored)
        return value
    return stored


def _columns_for(sections: dict[str, list[FieldSpec]], n: int) -> list[list[str]]:
    """Spread sections over ``n`` columns, balancing their field counts (order kept per column)."""
    cols: list[list[str]] = [[] for _ in range(n)]
    load = [0] * n
    for name, items in sections.items():
        i = load.index(min(load))
        cols[i].append(name)
        load[i] += len(items) + 2
    return cols


def config_form(columns: int = 2) -> FormResult:
    """Render the whole form; validate; show each error under its field. Returns the result."""
    all_specs = specs()
    sections: dict[str, list[FieldSpec]] = {}
    for s in all_specs:
        sections.setdefault(s.path.split(".")[0] if "." in s.path else "", []).append(s)
    values: dict[str, Any] = {}
    raw: dict[str, Any] = {s.path: current_value(s) for s in all_specs}
    slots: dict[str, Any] = {}
    parse_errors: list[FieldError] = []
    d = draft()
    for col, names in zip(st.columns(columns), _columns_for(sections, columns)):
        with col:
            for name in names:
                with st.container(border=True):
                    st.markdown(f"**{SECTION_TITLES.get(name, name.capitalize())}**")
                    for s in sections[name]:
                        if not applies(s, raw):
                            continue
                        value = render_field(s)
                        slots[s.path] = st.empty()
                        if isinstance(value, ParseError):
                            parse_errors.append(FieldError(s.path, value.raw, value.allowed))
                            raw[s.path] = None
                            continue
                        raw[s.path] = values[s.path] = value
                        d[s.path] = value
    config, errors = None, list(parse_errors)
    try:
        config = Config.from_dict(nest(values))
    except ConfigError as exc:
        errors += exc.errors
    if parse_errors:
        config = None
    result = FormResult(values, config, errors, slots)
    for e in errors:
        slot = slots.get(e.field)
        if slot is not None:
            slot.markdown(f":red[⚠ got `{e.value!r}`; allowed: {e.allowed}]")
    return result
