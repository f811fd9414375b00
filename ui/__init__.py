"""Prunelab's Streamlit layer: figures (pure), schedule math (pure), form widgets and page views.

Nothing here imports torch: runs happen in the worker process and everything the pages draw is
read from the job store (events) and the run folders (bit-packed masks).
"""
