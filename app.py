"""Prunelab: launch iterative-pruning experiments as background jobs and watch them live.

Run with ``streamlit run app.py`` (or ``python3 dev.py run``). This page: what the tool is, a
one-click quick start, the worker and every job's state.
"""

import streamlit as st

from ui import errors, home, nav

st.set_page_config(page_title="Prunelab", page_icon="✂️", layout="wide")
nav.sidebar()
with errors.reported():          # an unreadable store: its message, not a traceback
    home.view()
