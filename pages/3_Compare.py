"""Compare: several jobs (or all seeds of one) side by side; search cost and speed-up; mask similarity."""

import streamlit as st

from ui import errors, nav, compare, state

st.set_page_config(page_title="Compare · Prunelab", page_icon="✂️", layout="wide")
nav.sidebar()
st.title("Compare")
with errors.reported():
    jobs = state.jobs()
    if not jobs:
        st.info("No jobs yet: launch one from the home page or the Experiment page.")
        st.stop()
    compare.view(jobs)
