"""The ``prunelab`` command (:mod:`prunelab.cli`) and the app's files of an installed wheel.

The engine is :mod:`pruning_core`; this package only launches it and the Streamlit app.
"""
