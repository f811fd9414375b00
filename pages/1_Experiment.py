"""Experiment: choose model, dataset, pruner, schedule and training; see the plan; launch."""

import streamlit as st

from ui import errors, nav, experiment, state, widgets

st.set_page_config(page_title="Experiment · Prunelab", page_icon="✂️", layout="wide")
nav.sidebar()
st.title("Experiment")
copied = state.apply_pending()
if copied:
    st.success("Copied from the Schedules playground: " + ", ".join(f"`{k}`" for k in copied))
st.caption("Every field comes from the engine's config metadata; options that do not apply to the chosen "
           "method are hidden. Hover the ? next to a field for what it means and which paper setting its "
           "default reproduces.")

form_col, preview_col = st.columns([3, 2], gap="large")
with form_col:
    form = widgets.config_form(columns=2)
with preview_col:
    launch = st.container()
    with errors.reported():
        experiment.preview(form)
    with launch, errors.reported():
        experiment.launch_box(form)
