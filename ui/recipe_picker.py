"""The Experiment page's recipe picker: start the form from a paper recipe, see what it set.

* :func:`start` — a fresh session's form starts from the quick start (before values copied from
  other pages are applied, so those win)
* :func:`picker` — the recipe selectbox, its source and dataset; :func:`fill`, once the form has
  its values, the fields the recipe set (marking those changed since)
* :func:`offer` — when the form's model and dataset have a recipe other than the one applied,
  an info line with a "Use recipe …" button

Applying a recipe resets the form to the engine defaults and puts the recipe's fields in the
draft (:mod:`ui.state`), so the form shows exactly the recipe's config.
"""

from __future__ import annotations

import json

import streamlit as st

from pruning_core.recipes import RECIPES, dataset_available_offline, get_recipe, how_to_get, recipe_for

from . import state
from .text import plain

PICK_KEY = "recipe_pick"
APPLIED_KEY = "recipe_applied"
LOADED_KEY = "form_loaded_from"      # the job or file the form was loaded from (ui.config_loader)
DEFAULT_RECIPE = "quickstart"


def apply(name: str) -> None:
    """Reset the form to the defaults, then to recipe ``name``'s fields (widgets start from them)."""
    reset_form(get_recipe(name).fields(), applied=name)


def reset_form(values: dict, applied: str | None) -> None:
    """Reset the form to the defaults, then to ``values`` (dotted fields; widgets start from them);
    ``applied``: the recipe they come from (None: a job or a file)."""
    for key in [k for k in st.session_state if str(k).startswith(state.WIDGET_PREFIX)]:
        del st.session_state[key]
    state.draft().clear()
    state.set_draft(values)
    st.session_state[APPLIED_KEY] = applied
    if applied is not None:
        st.session_state.pop(LOADED_KEY, None)


def applied() -> str | None:
    """The name of the recipe the form was last started from."""
    return st.session_state.get(APPLIED_KEY)


def start() -> None:
    """On a session's first visit, start the form from the quick start."""
    if APPLIED_KEY not in st.session_state:
        apply(DEFAULT_RECIPE)
    if PICK_KEY not in st.session_state:            # widget state is dropped while on other pages
        st.session_state[PICK_KEY] = applied() or DEFAULT_RECIPE


def _picked() -> None:
    apply(st.session_state[PICK_KEY])


def _use(name: str) -> None:
    st.session_state[PICK_KEY] = name
    apply(name)


def _shown(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def set_fields_lines(name: str, current: dict) -> list[str]:
    """One Markdown line per field recipe ``name`` set, saying if the form has changed it since."""
    lines = []
    for key, value in get_recipe(name).fields().items():
        now = current.get(key, value)
        changed = f" — :orange[now {_shown(now)}]" if key in current and now != value else ""
        lines.append(f"- `{key}` = `{_shown(value)}`{changed}")
    return lines


def picker():
    """The recipe selectbox, its source and where its dataset comes from; returns the container
    that :func:`fill` writes the recipe's fields into once the form has its values."""
    st.selectbox("Recipe", list(RECIPES), key=PICK_KEY, on_change=_picked,
                 format_func=lambda n: f"{n}: {RECIPES[n].title}",
                 help="Start from a published setting: choosing one resets the form to the defaults plus the "
                      "recipe's fields. Edit any field afterwards.")
    recipe = get_recipe(st.session_state[PICK_KEY])
    st.caption(f"Source: {plain(recipe.source)}")
    if dataset_available_offline(recipe):
        st.caption(f"Dataset: {plain(how_to_get(recipe))}")
    else:
        st.warning(plain(how_to_get(recipe)), icon="⬇️")
    return st.expander(f"Set by recipe {recipe.name} ({len(recipe.fields())} fields)", expanded=False)


def fill(listed, offer_slot, values: dict) -> None:
    """After the form: the fields the picked recipe set (marking those changed in ``values``)
    into ``listed``, and into ``offer_slot`` the recipes of the form's model and dataset."""
    recipe = get_recipe(st.session_state[PICK_KEY])
    with listed:
        st.markdown("\n".join(set_fields_lines(recipe.name, values)))
        if recipe.notes:
            st.caption(plain(recipe.notes))
    with offer_slot:
        offer(values)


def offer(values: dict) -> None:
    """If the form's model and dataset have recipes and the applied one is not for them, offer them."""
    model, dataset = values.get("model.name"), values.get("dataset.name")
    current = applied()
    if not model or not dataset or (current and (RECIPES[current].model, RECIPES[current].dataset) == (model, dataset)):
        return
    for recipe in recipe_for(model, dataset):
        st.info(f"A recipe exists for {model} on {dataset}: **{recipe.name}** — {plain(recipe.title)}", icon="📖")
        st.button(f"Use recipe {recipe.name}", key=f"use_recipe:{recipe.name}", on_click=_use, args=(recipe.name,))
