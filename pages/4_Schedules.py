"""Schedules: a playground for sparsity and learning-rate schedules (no training)."""

import streamlit as st

from ui import nav, playground

st.set_page_config(page_title="Schedules · Prunelab", page_icon="✂️", layout="wide")
nav.sidebar()
st.title("Schedules")
st.caption("Move the sliders: the curves redraw at once. Nothing trains here.")
playground.view()
