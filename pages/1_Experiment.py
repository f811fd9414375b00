"""Experiment: choose model, dataset, pruner, schedule and training; see the plan; launch one job,
or vary fields and launch a sweep."""

import streamlit as st

from ui.text import plain

from ui import config_loader, errors, nav, experiment, recipe_picker, state, sweep_form, widgets

st.set_page_config(page_title="Experiment · Prunelab", page_icon="✂️", layout="wide")
nav.sidebar()
st.title("Experiment")
recipe_picker.start()                  # a fresh session starts from the quick start; copied values win over it
loaded = config_loader.apply_load()    # "Edit as new" on a job
if loaded or st.session_state.get(config_loader.LOADED_KEY):
    st.info(f"Form loaded from {plain(st.session_state[config_loader.LOADED_KEY])}: edit it and launch it as a new "
            "job.")
copied = state.apply_pending()
if copied:
    st.success("Copied from the Schedules playground: " + ", ".join(f"`{k}`" for k in copied))
st.caption("Start from a recipe (a published setting), then edit any field. Every field comes from the engine's "
           "config metadata; options that do not apply to the chosen method are hidden. Hover the ? next to a "
           "field for what it means and which paper setting its default reproduces. To run a grid, choose fields "
           "to vary under *Sweep*.")

form_col, preview_col = st.columns([3, 2], gap="large")
with form_col:
    with st.container(border=True):
        listed = recipe_picker.picker()
        config_loader.upload_box()
    offer_slot = st.container()
    form = widgets.config_form(columns=2, varied=sweep_form.varied())
    recipe_picker.fill(listed, offer_slot, form.values)
with preview_col:
    with st.container(border=True):
        axes, problems, zipped = sweep_form.editor(form)
    if sweep_form.varied():
        with errors.reported():
            sweep_form.preview(form, axes, problems, zipped)
        with st.expander("Plan of the form's config (the sweep's base)"), errors.reported():
            experiment.preview(form)
    else:
        launch = st.container()
        with errors.reported():
            experiment.preview(form)
        with launch, errors.reported():
            experiment.launch_box(form)
