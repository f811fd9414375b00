"""The sidebar links every page draws (Streamlit's own list would call the entry page "app")."""

from __future__ import annotations

import streamlit as st

PAGES = [("app.py", "Home", ":material/home:"), ("pages/1_Experiment.py", "Experiment", ":material/science:"),
         ("pages/2_Monitor.py", "Monitor", ":material/monitoring:"),
         ("pages/3_Compare.py", "Compare", ":material/compare_arrows:"),
         ("pages/4_Schedules.py", "Schedules", ":material/show_chart:")]


def sidebar() -> None:
    with st.sidebar:
        st.markdown("### ✂ Prunelab")
        for path, label, icon in PAGES:
            st.page_link(path, label=label, icon=icon)
