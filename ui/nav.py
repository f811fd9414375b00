"""The sidebar every page draws: links (Streamlit's own list would call the entry page "app") and
plug-in load errors."""

from __future__ import annotations

import streamlit as st

from . import state

PAGES = [("app.py", "Home", ":material/home:"), ("pages/1_Experiment.py", "Experiment", ":material/science:"),
         ("pages/2_Monitor.py", "Monitor", ":material/monitoring:"),
         ("pages/3_Compare.py", "Compare", ":material/compare_arrows:"),
         ("pages/5_Sweeps.py", "Sweeps", ":material/grid_view:"),
         ("pages/4_Schedules.py", "Schedules", ":material/show_chart:")]


def sidebar() -> None:
    """The page links, and the errors of plug-in files that failed to load (loaded here, once)."""
    errors = state.load_plugins()
    with st.sidebar:
        st.markdown("### ✂ Prunelab")
        for path, label, icon in PAGES:
            st.page_link(path, label=label, icon=icon)
        for error in errors:
            st.error(error, icon=":material/extension_off:")
