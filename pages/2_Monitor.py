"""Monitor: one job live (the URL's ?job= names it): curves, masks, schedules; cancel, resume, download."""

import streamlit as st

from ui import errors, nav, monitor, state

st.set_page_config(page_title="Monitor · Prunelab", page_icon="✂️", layout="wide")
nav.sidebar()
st.title("Monitor")
with errors.reported():
    job_id = monitor.pick_job(state.jobs())
    if job_id is None:
        st.info("No jobs yet: launch one from the home page or the Experiment page.")
        st.page_link("pages/1_Experiment.py", label="Experiment", icon=":material/science:")
        st.stop()
    monitor.show(job_id)
