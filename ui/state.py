"""Session-level plumbing shared by the pages: the store, incremental event feeds, the draft config.

* :func:`store` — one :class:`JobStore` per cache dir per server process (``$PRUNELAB_CACHE`` is
  read on every call, so tests can point it at a temporary dir).
* :func:`load_plugins` — the user's plug-in files (``$PRUNELAB_PLUGINS``, else ``./plugins/``),
  loaded once per server process; a file that fails is reported and the rest keep working.
* :func:`feed` — a job's events, reading from the store only those appended since the last call
  (kept in session state; the store is never re-read from the start while a page is open).
* the *draft*: the Experiment form's values by dotted field name, in session state, so they
  survive page switches; the Schedules page writes into it with :func:`send_to_experiment`.
"""

from __future__ import annotations

import json
import pathlib

import pandas as pd
import streamlit as st

from pruning_core.config import Config, ConfigError
from pruning_core.events import events_to_frames
from pruning_core.jobs.store import JobStore, default_cache_dir
from pruning_core.registry import load_plugins as _load_plugins
from pruning_core.registry import plugin_paths_from_env
from pruning_core.recipes import get_recipe

from . import data

DRAFT_KEY = "draft"
PENDING_KEY = "draft_pending"
WIDGET_PREFIX = "cfg:"

# The Home page's quick-start experiment is the "lottery_quickstart" recipe (pruning_core/recipes/
# library.py): the engine defaults (LeNet-300-100 on scikit-learn's digits, the IAP paper's training
# recipe, 20 % per round) as the original lottery ticket: rewind to the initialisation (k = 0), so
# every round retrains the full 6 epochs, for 20 rounds (1.2 % of the weights left) and 5 seeds (the
# papers' median of 5, drawn with a min-max band). 630 epochs: about a minute on a 2-core CPU.
QUICKSTART = get_recipe("lottery_quickstart").partial()


def cache_dir() -> pathlib.Path:
    return default_cache_dir()


@st.cache_resource(show_spinner=False)
def _store(root: str) -> JobStore:
    return JobStore(root)


def store() -> JobStore:
    """The job store of the current cache dir (shared across sessions)."""
    return _store(str(cache_dir()))


@st.cache_resource(show_spinner=False)
def _plugins(paths: tuple[str, ...]) -> list[str]:
    return [str(e) for e in _load_plugins(list(paths), strict=False)]


def load_plugins() -> list[str]:
    """Load the user's plug-in files once per process; return the errors of those that failed."""
    return _plugins(tuple(str(p) for p in plugin_paths_from_env()))


def pick_from_url(param: str, label: str, ids: list[str], labels: dict[str, str]) -> str | None:
    """A selector whose initial choice is the URL's ``?<param>=`` (an unknown id is named in a
    plain-text warning), else the last one chosen, else the newest; the URL follows the choice."""
    from .text import plain

    if not ids:
        return None
    wanted = st.query_params.get(param)
    if wanted and wanted not in ids:
        st.warning(plain(f"No {label.lower()} {wanted} in this store; showing the newest instead."))
    wanted = wanted or st.session_state.get(f"last_{param}")
    index = ids.index(wanted) if wanted in ids else 0
    chosen = st.selectbox(label, ids, index=index, format_func=labels.get, key=f"{param}_pick:{wanted}")
    if st.query_params.get(param) != chosen:
        st.query_params[param] = chosen
    st.session_state[f"last_{param}"] = chosen
    return chosen


def config_of(record: dict) -> Config | None:
    """A job's config, or None when it names a method this app has not loaded (a plug-in file
    given only to the CLI: add it to ``$PRUNELAB_PLUGINS`` to see its plan here) or when the
    record could not be read (no config)."""
    if not data.readable(record):
        return None
    try:
        return Config.from_dict(record["config"])
    except ConfigError:
        return None


def jobs() -> list[dict]:
    """Every job record, newest first, with a dead worker's running job shown as interrupted."""
    return store().list_jobs()


def job(job_id: str) -> dict | None:
    """The job's record, or None if the store has no such job; a CorruptRecord (a StoreError)
    when the record cannot be read."""
    try:
        return store().get_job(job_id)
    except KeyError:
        return None


def feed(job_id: str) -> list[dict]:
    """All events of a job so far; only the new ones are read from the store."""
    feeds = st.session_state.setdefault("feeds", {})
    entry = feeds.get(job_id)
    if entry is None or entry["root"] != str(cache_dir()):
        entry = feeds[job_id] = {"root": str(cache_dir()), "n": 0, "events": []}
    new = store().events(job_id, start=entry["n"])
    entry["events"].extend(new)
    entry["n"] += len(new)
    return entry["events"]


@st.cache_data(show_spinner=False, max_entries=64)
def stored_frames(root: str, job_id: str, n_events: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rounds, epochs) of any job, cached until its event count changes (Compare, estimates)."""
    return events_to_frames(_store(root).events(job_id))


def frames_of(job_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    return stored_frames(str(cache_dir()), job_id, store().event_count(job_id))


@st.cache_data(show_spinner=False, max_entries=256)
def _masks(path: str, mtime: float) -> dict:
    return data.load_masks_numpy(path)


def masks(path: pathlib.Path) -> dict:
    """{layer: bool array} of a mask file (cached by path and modification time)."""
    return _masks(str(path), path.stat().st_mtime)


@st.cache_data(show_spinner=False, max_entries=16)
def _weights(path: str, mtime: float, names: tuple[str, ...]) -> dict:
    return data.load_weights_numpy(path, list(names))


def weights(path: pathlib.Path, names: list[str]) -> dict:
    return _weights(str(path), path.stat().st_mtime, tuple(names))


@st.cache_data(show_spinner=False)
def _describe(model: str, dataset: str, root: str) -> dict:
    return data.describe(model, dataset, pathlib.Path(root))


def describe(model: str, dataset: str) -> dict:
    """Parameter counts and layer shapes of a model on a dataset (one subprocess per pair, ever)."""
    return _describe(model, dataset, str(cache_dir()))


def describe_soon(model: str, dataset: str) -> dict | None:
    """:func:`describe` without waiting: None while the pair's first inspection still runs."""
    return data.describe_soon(model, dataset, cache_dir())


# ---- the draft config ------------------------------------------------------------------------

def draft() -> dict:
    """Dotted field -> value of the Experiment form (missing fields take their defaults)."""
    return st.session_state.setdefault(DRAFT_KEY, {})


def send_to_experiment(values: dict) -> None:
    """Queue dotted values for the Experiment form (applied on its next run)."""
    st.session_state[PENDING_KEY] = {**st.session_state.get(PENDING_KEY, {}), **values}


def set_draft(values: dict) -> None:
    """Put dotted values into the draft and reset their widgets, which then start from them."""
    d = draft()
    for key, value in values.items():
        d[key] = value
        st.session_state.pop(WIDGET_PREFIX + key, None)
        st.session_state.pop(WIDGET_PREFIX + key + ":set", None)


def apply_pending() -> list[str]:
    """Merge values sent by other pages into the draft and reset their widgets; return the keys."""
    pending = st.session_state.pop(PENDING_KEY, None) or {}
    set_draft(pending)
    return list(pending)


def quickstart_config() -> Config:
    return Config.from_dict(json.loads(json.dumps(QUICKSTART)))


def memo(key: str, deps: tuple, build):
    """``build()`` once per distinct ``deps`` (e.g. the event count): live pages redraw every
    second but rebuild a figure only when its data changed."""
    cache = st.session_state.setdefault("memo", {})
    hit = cache.get(key)
    if hit is not None and hit[0] == deps:
        return hit[1]
    value = build()
    cache[key] = (deps, value)
    return value
