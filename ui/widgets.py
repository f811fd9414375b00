"""The experiment form, generated from the engine's field metadata (``config.field_specs``).

Every leaf field of the config becomes a widget: a selectbox for fields with choices (labels and
help from the field or the plug-in registry), a number input (with the field's bounds) for
numbers, a checkbox for booleans, a text input for strings and integer lists. An optional field
(null allowed) gets a "set" toggle; while it is off the field is null. A plug-in choice (the
algorithm, the score, the LR policy …) is a selectbox followed by the chosen plug-in's own
options; choosing another one applies what it suggests to other fields (choosing the activation
score sets the unit to output filters and the grouping to local). A field whose ``when``
condition is false is hidden and left out of the config (so it takes its default, never a stale
value). Validation runs on every change; each error is written under the widget of the field it
names. A new option or plug-in appears here without editing any page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from pruning_core.config import Config, ConfigError, FieldError, FieldSpec, applies, field_specs, section_titles
from pruning_core.registry import REGISTRIES

from .state import WIDGET_PREFIX, draft, set_draft

NULL_BOOL = {"default": None, "on": True, "off": False}


@dataclass
class FormResult:
    """What the form produced: the values of the fields that apply, and the validation outcome."""

    values: dict[str, Any]                       # dotted -> value (applicable fields only)
    config: Config | None
    errors: list[FieldError] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    specs: dict[str, FieldSpec] = field(default_factory=dict)   # dotted -> spec (applicable fields only)

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


def _suggested(spec: FieldSpec) -> Any:
    """A starting value when an optional field is switched on: its example, else within bounds."""
    if spec.example is not None:
        return spec.example
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


def _help(spec: FieldSpec) -> str:
    """The field's help, followed by each choice's own help (registered methods)."""
    if not spec.choice_help:
        return spec.help
    return spec.help + "\n\n" + "\n".join(f"- **{spec.choice_labels.get(v, v)}**: {h}"
                                          for v, h in spec.choice_help.items())


@dataclass(frozen=True)
class ParseError:
    raw: str
    allowed: str


def _widget(spec: FieldSpec, key: str) -> Any:
    """Draw the input for a non-null value of ``spec``; return its value (or a ParseError)."""
    text, help_text = spec.label, _help(spec)
    if spec.choices is not None:
        return st.selectbox(text, list(spec.choices), key=key, help=help_text,
                            format_func=lambda v: spec.choice_labels.get(v, str(v)))
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


def _initial(spec: FieldSpec, stored: Any) -> Any:
    value = spec.default if stored is None else stored
    if spec.type == "list[int]":
        return ", ".join(str(v) for v in (value or []))
    return value


def render_field(spec: FieldSpec, prefix: str = WIDGET_PREFIX, stored: Any = None) -> Any:
    """One field: the optional toggle and the widget. ``stored`` is the value to start from."""
    key = prefix + spec.path
    if stored is None and not spec.optional:
        stored = spec.default
    if spec.optional and spec.type != "bool":
        _init(key + ":set", stored is not None)
        on = st.toggle(f"Set {spec.label[0].lower() + spec.label[1:]}", key=key + ":set", help=spec.help)
        if not on:
            return None
        _init(key, _initial(spec, stored if stored is not None else _suggested(spec)))
        return _widget(spec, key)
    if spec.optional and spec.type == "bool":
        _init(key, {None: "default", True: "on", False: "off"}[stored])
        return NULL_BOOL[st.selectbox(spec.label, list(NULL_BOOL), key=key, help=spec.help)]
    _init(key, _initial(spec, stored))
    return _widget(spec, key)


def current_value(spec: FieldSpec, prefix: str = WIDGET_PREFIX, stored: Any = None) -> Any:
    """The field's value as the user last left it: its widget state, else ``stored``, else the
    default (used to decide ``when`` conditions and plug-in options before widgets are drawn)."""
    key = prefix + spec.path
    if spec.optional and spec.type != "bool" and key + ":set" in st.session_state:
        if not st.session_state[key + ":set"]:
            return None
        if key not in st.session_state:
            return stored if stored is not None else _suggested(spec)
    if key in st.session_state and spec.type != "list[int]":
        value = st.session_state[key]
        if spec.optional and spec.type == "bool":
            return NULL_BOOL.get(value, stored)
        return value
    return spec.default if stored is None and not spec.optional else stored


def resolve_specs(stored: dict[str, Any], prefix: str = WIDGET_PREFIX, cls: type | None = None,
                  path_prefix: str = "") -> tuple[list[FieldSpec], dict[str, Any]]:
    """The field specs for the plug-ins currently chosen, and every field's current value."""
    values: dict[str, Any] = {}
    specs: list[FieldSpec] = []
    for _ in range(4):                                 # a chosen plug-in can bring further choices
        specs = field_specs(cls, values, path_prefix)
        new = {s.path: current_value(s, prefix, stored.get(s.path, s.default)) for s in specs}
        if new == values:
            break
        values = new
    return specs, values


def _apply_suggestions(spec: FieldSpec, chosen: Any) -> bool:
    """When a plug-in choice changed, set the fields its new plug-in suggests; True if any."""
    key = WIDGET_PREFIX + spec.path + ":chosen"
    previous = st.session_state.get(key)
    st.session_state[key] = chosen
    if previous is None or previous == chosen:
        return False
    suggests = getattr(REGISTRIES[spec.plugin].get(chosen), "suggests", {})
    set_draft(suggests)
    return bool(suggests)


def _columns_for(sections: dict[str, list[FieldSpec]], n: int) -> list[list[str]]:
    """Spread sections over ``n`` columns, balancing their field counts (order kept per column)."""
    cols: list[list[str]] = [[] for _ in range(n)]
    load = [0] * n
    for name, items in sections.items():
        i = load.index(min(load))
        cols[i].append(name)
        load[i] += len(items) + 2
    return cols


def axis_field(spec: FieldSpec) -> str:
    """The field a sweep varies for ``spec``: a plug-in choice by its name (``pruner.score``, whose
    options then take each plug-in's defaults), any other field by its path."""
    return spec.path[:-len(".name")] if spec.plugin is not None and spec.path.endswith(".name") else spec.path


def varied_note(spec: FieldSpec, varied: Any) -> str | None:
    """What the form says under a field the sweep varies (or an option of a varied plug-in choice)."""
    if axis_field(spec) in varied:
        return "↔ varied by the sweep: the values set under *Sweep* replace this one"
    owner = next((v for v in varied if spec.path.startswith(v + ".")), None)
    if owner is not None:
        return f"↔ {owner} is varied by the sweep: each of its values starts from its own defaults"
    return None


def config_form(columns: int = 2, varied: Any = ()) -> FormResult:
    """Render the whole form; validate; show each error under its field. Returns the result.
    ``varied``: the fields a sweep varies (:func:`axis_field`), marked under their widgets."""
    d = draft()
    all_specs, raw = resolve_specs(d)
    titles = section_titles()
    sections: dict[str, list[FieldSpec]] = {}
    for s in all_specs:
        sections.setdefault(s.path.split(".")[0] if "." in s.path else "", []).append(s)
    values: dict[str, Any] = {}
    slots: dict[str, Any] = {}
    shown_specs: dict[str, FieldSpec] = {}
    parse_errors: list[FieldError] = []
    for col, names in zip(st.columns(columns), _columns_for(sections, columns)):
        with col:
            for name in names:
                with st.container(border=True):
                    st.markdown(f"**{titles.get(name, name.capitalize())}**")
                    for s in sections[name]:
                        if not applies(s, raw):
                            continue
                        value = render_field(s, stored=d.get(s.path, s.default))
                        shown_specs[s.path] = s
                        note = varied_note(s, varied) if varied else None
                        if note:
                            st.caption(f":violet[{note}]")
                        slots[s.path] = st.empty()
                        if isinstance(value, ParseError):
                            parse_errors.append(FieldError(s.path, value.raw, value.allowed))
                            continue
                        values[s.path] = d[s.path] = value
                        if s.plugin is not None and _apply_suggestions(s, value):
                            st.rerun()
    config, errors = None, list(parse_errors)
    try:
        config = Config.from_dict(nest(values))
    except ConfigError as exc:
        errors += exc.errors
    if parse_errors:
        config = None
    result = FormResult(values, config, errors, slots, shown_specs)
    for e in errors:
        slot = slots.get(e.field)
        if slot is not None:
            slot.markdown(f":red[⚠ got `{e.value!r}`; allowed: {e.allowed}]")
    return result


def options_form(cls: type, path_prefix: str, key_prefix: str, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """Widgets for the options of one plug-in class (e.g. a sparsity schedule on the Schedules
    page), with paths ``path_prefix + field``; returns {dotted path: value} of those that apply."""
    stored = stored or {}
    specs, raw = resolve_specs(stored, key_prefix, cls, path_prefix)
    out = {}
    for s in specs:
        if applies(s, raw):
            value = render_field(s, key_prefix, stored.get(s.path, s.default))
            if not isinstance(value, ParseError):
                out[s.path] = value
    return out
