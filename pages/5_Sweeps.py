"""Sweeps: one grid of jobs live (the URL's ?sweep= names it): accuracy per axis value, a heatmap
over two axes, results per combination, search cost; cancel and resume the sweep or one job."""

import streamlit as st

from ui import errors, nav, state, sweeps

st.set_page_config(page_title="Sweeps · Prunelab", page_icon="✂️", layout="wide")
nav.sidebar()
st.title("Sweeps")
with errors.reported():
    sweep_id = sweeps.pick_sweep(state.store().list_sweeps())
    if sweep_id is None:
        st.info("No sweeps yet: on the Experiment page, choose fields to vary and launch a sweep.")
        st.page_link("pages/1_Experiment.py", label="Experiment", icon=":material/science:")
        st.stop()
    sweeps.show(sweep_id)
