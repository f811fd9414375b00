"""The Experiment page's sweep: any field of the form can become an axis ("vary this").

Fields chosen in *Vary fields* each get a values editor in the field's type: a multiselect for
choices and booleans, a comma-separated list for numbers, strings and integer lists (values
parsed as on the command line, ``--axis field=v1,v2``), or a numeric range (start, stop and a
count — linear or log — for decimals, a step for integers). *Seeds 0…n−1* adds the seed axis in
one click. The axes are multiplied (or zipped) over the form's config, the *base*, from which the
varied fields (and the options of a varied plug-in choice) are left out.

The preview expands the grid with the engine (``pruning_core.sweeps.expand``, kept per distinct
grid for the session): jobs, every invalid combination with its reason (nothing can be launched
while there is one), search cost and epochs, and a run-time estimate from the Experiment page's
estimate per epoch, divided over the worker's slots. Above 1,000 jobs a checkbox confirms the
size. *Run on* chooses the executor: this machine's worker, or Ray (a local instance or a cluster's
address). Launch queues one sweep and opens it on the Sweeps page.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from typing import Any

import numpy as np
import streamlit as st

from pruning_core.config import ConfigError, FieldSpec
from pruning_core.dense import dense_keys
from pruning_core.errors import PrunelabError
from pruning_core.jobs.slots import default_cpu_slots
from pruning_core.sweeps import MAX_JOBS_WITHOUT_CONFIRMATION, Axis, Grid, expand, parse_axis
from pruning_core.sweeps.grid import split_values
from pruning_core.sweeps.ray_connect import INSTALL_HINT

from . import data, experiment, launcher, state
from . import sweep_data as sd
from .text import plain
from .widgets import FormResult, _step, axis_field, nest

FIELDS_KEY = "sweep_fields"
PREFIX = "sweep:"
MAX_RANGE = 10_000
APP_MAX_JOBS = 20_000        # expanding validates every member (~2 ms each): beyond this the page would stall
MAX_LISTED = 30
NULL_LABEL = "null (unset)"


def varied() -> list[str]:
    """The fields the sweep varies now (as the multiselect left them)."""
    return list(st.session_state.get(FIELDS_KEY) or [])


def _init(key: str, value: Any) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def add_seeds() -> None:
    """*Seeds 0…n−1*: vary the seed over 0 … n−1 (n from its number input)."""
    n = int(st.session_state.get("sweep_seed_n") or 3)
    st.session_state[FIELDS_KEY] = [*[f for f in varied() if f != "seed"], "seed"]
    st.session_state[PREFIX + "seed:mode"] = "list"
    st.session_state[PREFIX + "seed:list"] = ", ".join(str(i) for i in range(n))


# ---- values editors --------------------------------------------------------------------------

def _choice_label(spec: FieldSpec, value: Any) -> str:
    if value is None:
        return NULL_LABEL
    return spec.choice_labels.get(value, str(value)) if spec.choices is not None else str(value).lower()


def pick_values(spec: FieldSpec, field: str, current: Any) -> tuple[list, str | None]:
    """A multiselect of a choice's (or a boolean's) values; starts from the form's value (a
    boolean from both)."""
    options = list(spec.choices) if spec.choices is not None else [False, True]
    if spec.optional and None not in options:
        options.append(None)
    key = PREFIX + field + ":pick"
    _init(key, options[:2] if spec.choices is None and not spec.optional else
          [current] if current in options else options[:1])
    picked = st.multiselect(f"{spec.label}: values", options, key=key, format_func=lambda v: _choice_label(spec, v))
    return picked, None if picked else "choose at least one value"


def list_values(spec: FieldSpec, field: str, current: Any) -> tuple[list | None, str | None]:
    """A comma-separated list of values: JSON where it parses (``3``, ``0.5``, ``null``,
    ``[80, 120]``), else text; a text field's values stay text (``null`` aside)."""
    key = PREFIX + field + ":list"
    _init(key, "" if current is None else sd.value_text(current))
    hint = {"list[int]": "lists, e.g. [80, 120], [], [50]", "str": "texts, e.g. cpu, cuda"}.get(
        spec.type, "e.g. 1, 2, 5" if spec.type == "int" else "e.g. 0.1, 0.2, 0.5")
    raw = st.text_input(f"{spec.label}: values (comma-separated)", key=key, help=f"{hint}; null: unset")
    if spec.type == "str":
        items = split_values(raw)
        if not raw.strip() or "" in items:
            return None, "values separated by single commas"
        return [None if v == "null" else v.strip("\"'") for v in items], None
    try:
        return list(parse_axis(f"{field}={raw}").values), None
    except ConfigError as exc:
        return None, exc.errors[0].allowed


def range_values(spec: FieldSpec, field: str, current: Any) -> tuple[list | None, str | None]:
    """Start, stop and a step (integers) or a count, linear or log (decimals); both ends included."""
    key = PREFIX + field
    integer = spec.type == "int"
    cast = int if integer else float
    low = None if spec.low is None else cast(spec.low)
    high = None if spec.high is None else cast(spec.high)
    start0 = cast(current if current is not None else (low or 0))
    stop0 = start0 + 2 if integer else (start0 * 2 if start0 else 1.0)
    stop0 = min(stop0, high) if high is not None else stop0
    cols = st.columns(3)
    number = dict(min_value=low, max_value=high) if integer else dict(min_value=low, max_value=high, format="%g",
                                                                         step=_step(spec, start0))
    _init(key + ":start", start0)
    _init(key + ":stop", stop0)
    start = cols[0].number_input("start", key=key + ":start", **number)
    stop = cols[1].number_input("stop", key=key + ":stop", **number)
    if integer:
        step = cols[2].number_input("step", value=1, key=key + ":step", step=1)
        if step == 0 or (stop - start) * step < 0:
            return None, "a step that goes from start to stop"
        values = list(range(int(start), int(stop) + (1 if step > 0 else -1), int(step)))
    else:
        count = cols[2].number_input("count", min_value=2, max_value=MAX_RANGE, value=3, key=key + ":count", step=1)
        log = st.toggle("log spacing", key=key + ":log", help="equal ratios between neighbours (e.g. learning rates)")
        if log and (start <= 0 or stop <= 0):
            return None, "start and stop > 0 for log spacing"
        grid = np.geomspace(start, stop, int(count)) if log else np.linspace(start, stop, int(count))
        values = [float(f"{v:.6g}") for v in grid]
    if len(values) > MAX_RANGE:
        return None, f"at most {MAX_RANGE} values"
    return values, None


def values_editor(spec: FieldSpec, field: str, current: Any) -> tuple[list | None, str | None]:
    """The values of one axis in the field's type: (values, None) or (None, what is wrong)."""
    if spec.choices is not None or spec.type == "bool":
        return pick_values(spec, field, current)
    if spec.type in ("int", "float"):
        mode = st.radio(f"{spec.label}: values as", ["list", "range"], horizontal=True, key=PREFIX + field + ":mode")
        if mode == "range":
            return range_values(spec, field, current)
    return list_values(spec, field, current)


def options_of(form: FormResult) -> dict[str, FieldSpec]:
    """{axis field: its spec} of every field the form shows (a plug-in choice by its name)."""
    return {axis_field(s): s for s in form.specs.values()}


def editor(form: FormResult) -> tuple[list[Axis], list[str], bool]:
    """The sweep box: fields to vary, their values, zip or product. Returns (axes, problems, zipped)."""
    options = options_of(form)
    st.session_state[FIELDS_KEY] = [f for f in varied() if f in options]
    st.markdown("**Sweep**: vary fields to queue one job per combination")
    fields = st.multiselect("Vary fields", list(options), key=FIELDS_KEY,
                            format_func=lambda f: f"{options[f].label} ({f})",
                            help="Each chosen field gets a list of values (or a range); the other fields keep "
                                 "the form's values.")
    left, right, _ = st.columns([1, 2, 2], vertical_alignment="bottom")
    left.number_input("n", min_value=1, max_value=1000, value=3, key="sweep_seed_n", help="how many seeds")
    right.button("Seeds 0…n−1", key="sweep_seeds", on_click=add_seeds, help="vary the seed over 0, 1, …, n−1")
    axes, problems = [], []
    for field in fields:
        spec = options[field]
        with st.container(border=True):
            values, problem = values_editor(spec, field, form.values.get(spec.path))
            if problem:
                st.markdown(f":red[⚠ {plain(field)}: {plain(problem)}]")
                problems.append(f"{field}: {problem}")
            elif values is not None:
                shown = ", ".join(sd.value_text(v) for v in values[:12]) + (" …" if len(values) > 12 else "")
                st.caption(plain(f"{field}: {len(values)} value(s): {shown}"))
                axes.append(Axis(field, tuple(values)))
    zipped = len(fields) > 1 and st.toggle("Zip the axes", key="sweep_zip",
                                           help="pair the i-th values of every axis instead of taking every "
                                                "combination (the axes need as many values each)")
    return axes, problems, bool(zipped)


# ---- the grid, its cost and its time -------------------------------------------------------------

def base_of(form: FormResult, axes: list[Axis]) -> dict:
    """The form's values without the varied fields (nor the options of a varied plug-in choice)."""
    fields = [a.field for a in axes]
    return nest({k: v for k, v in form.values.items()
                 if not any(k == f or k.startswith(f + ".") for f in fields)})


def grid_of(base: dict, axes: list[Axis], zipped: bool) -> Grid:
    """The expanded grid, built once per distinct (base, axes, zip) in this session."""
    key = json.dumps([base, [a.to_dict() for a in axes], zipped], sort_keys=True, default=str)
    return state.memo("sweep_grid", (key,), lambda: expand(base, axes, zipped=zipped))


def worker_slots() -> int:
    """How many jobs the app's worker runs at once on a CPU (one per GPU on a GPU machine)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    cores = int(env) if env.isdigit() and int(env) > 0 else launcher.worker_threads()
    return default_cpu_slots(cores)


def estimate(grid: Grid) -> tuple[float, float, list[str], dict]:
    """(serial seconds, wall seconds, bases of the per-epoch estimates, {(model, dataset): describe
    error}) of every member; a dense round 0 that several members share is counted once."""
    per_epoch: dict[tuple, tuple[float, str]] = {}
    mismatched: dict[tuple, str] = {}
    configs = [m.config for m in grid.members]
    shared = sd.shared_dense_repeats([dense_keys(c) for c in configs])
    jobs = []
    for config, saved in zip(configs, shared):
        pair = (config.model.name, config.dataset.name)
        key = (*pair, config.training.batch_size)
        if key not in per_epoch:
            facts = state.describe(*pair)
            if facts.get("error"):
                mismatched[pair] = facts["error"]
            per_epoch[key] = experiment.epoch_estimate(config, facts)[:2]
        plan = config.plan()
        epochs = config.repeats * plan.total_epochs() - saved * (plan.rounds[0].epochs if plan.rounds else 0)
        jobs.append((epochs, per_epoch[key][0]))
    serial, wall = sd.sweep_seconds(jobs, data.STARTUP_SECONDS, worker_slots())
    return serial, wall, sorted({basis for _, basis in per_epoch.values()}), mismatched


def invalid_list(grid: Grid, mismatched: dict) -> list[tuple[str, str]]:
    """Every combination that cannot run, with the reason: (combination, reason) as plain text."""
    lines = [(sd.combo_label(values), reason) for values, reason in grid.invalid]
    for m in grid.members:
        pair = (m.config.model.name, m.config.dataset.name)
        if pair in mismatched:
            lines.append((sd.combo_label(m.values), mismatched[pair]))
    return lines


def invalid_text(invalid: list[tuple[str, str]]) -> str:
    """The error box: each reason once, under it the combinations it concerns (at most
    :data:`MAX_LISTED` in all); every outside text escaped."""
    by_reason: dict[str, list[str]] = {}
    for combo, reason in invalid:
        by_reason.setdefault(reason, []).append(combo)
    lines, budget = [], MAX_LISTED
    for reason, combos in by_reason.items():
        listed = combos[:budget]
        lines += [f"- {plain(reason)}", *(f"    - {plain(c)}" for c in listed)]
        if len(combos) > len(listed):
            lines.append(f"    - … and {len(combos) - len(listed)} more")
        budget -= len(listed)
    return (f"**{len(invalid)} invalid combination(s)**: change or drop their values to launch.\n\n"
            + "\n".join(lines))


def planned_size(axes: list[Axis], zipped: bool) -> int:
    """How many combinations the axes make, before expanding them."""
    lengths = [len(a.values) for a in axes]
    return max(lengths, default=0) if zipped else math.prod(lengths)


def confirm_size(size: int) -> bool:
    """Whether a grid of ``size`` may be expanded: up to the limit at once, above it after the
    checkbox (expanding validates every member: about 2 ms each), never above :data:`APP_MAX_JOBS`."""
    if size > APP_MAX_JOBS:
        st.error(plain(f"{size:,} jobs: the app expands at most {APP_MAX_JOBS:,}. Use fewer values, or zip the "
                       f"axes."))
        return False
    if size <= MAX_JOBS_WITHOUT_CONFIRMATION:
        return True
    confirmed = st.checkbox(f"Queue {size:,} jobs (more than {MAX_JOBS_WITHOUT_CONFIRMATION:,})", key="sweep_confirm",
                            help="A large grid takes long to check and to run: confirm its size first.")
    if not confirmed:
        st.metric("Jobs", f"{size:,}")
        st.warning(f"More than {MAX_JOBS_WITHOUT_CONFIRMATION:,} jobs: confirm the size to check every combination, "
                   "see the cost and launch.")
        st.button(f"Launch sweep ({size:,} jobs)", type="primary", disabled=True, key="launch_sweep")
    return confirmed


def preview(form: FormResult, axes: list[Axis], problems: list[str], zipped: bool) -> None:
    """Jobs, invalid combinations, search cost, epochs and time of the sweep; name and Launch."""
    if problems or not axes:
        st.info("Give every varied field at least one value to see the sweep.")
        return
    fields = [a.field for a in axes]
    blocking = [e for e in form.errors if not any(e.field == f or e.field.startswith(f + ".") for f in fields)]
    if blocking:                     # a field left out of the base would silently take its default
        st.error("Fix the fields marked in red to see the sweep and launch it:\n\n"
                 + "\n".join(f"- {plain(e.field)}: {plain(e.allowed)}" for e in blocking))
        return
    if not confirm_size(planned_size(axes, zipped)):
        return
    try:
        with st.spinner("expanding the grid …"):
            grid = grid_of(base_of(form, axes), axes, zipped)
    except ConfigError as exc:
        st.error("The sweep cannot be built:\n\n" + "\n".join(f"- {plain(e)}" for e in exc.errors))
        return
    with st.spinner("estimating …"):
        serial, wall, bases, mismatched = estimate(grid)
    invalid = invalid_list(grid, mismatched)
    c1, c2 = st.columns(2)
    c1.metric("Jobs", f"{grid.size:,}", help=f"{len(grid.members):,} valid")
    c2.metric("Invalid", f"{len(invalid):,}", help="combinations that make an invalid or a repeated experiment")
    c1.metric("Search cost (all jobs)", f"{grid.search_cost():,} ep.", help="retraining epochs of every job and "
              "repeat, dense training excluded")
    c2.metric("Epochs (all jobs)", f"{grid.total_epochs():,}", help="every epoch of every job and repeat, dense "
              "rounds included")
    c1.metric("Sweep time (est.)", data.format_duration(wall),
              help=f"{data.format_duration(serial)} one job after the other, shared over the jobs that run at once; "
                   "a dense round that several jobs share trains once")
    c2.metric("Jobs at a time", f"{worker_slots()}", help="the worker's slots on this machine's CPU cores "
              "($PRUNELAB_SLOTS chooses; on a GPU machine, one per GPU)")
    st.caption(plain(f"{' ⇄ '.join(a.field for a in axes) if zipped else ' × '.join(a.field for a in axes)} · "
                     f"time: {'; '.join(bases)}"))
    if invalid:
        st.error(invalid_text(invalid))
    with st.expander(f"The {len(grid.members):,} job(s)"):
        st.dataframe([{a.field: sd.value_text(m.values[a.field]) for a in axes} for m in grid.members[:1000]],
                     hide_index=True)
    launch(grid, invalid)


def ray_installed() -> bool:
    """Whether Ray can be imported here (looked up, not imported: importing Ray takes seconds)."""
    return importlib.util.find_spec("ray") is not None


def executor_choice() -> tuple[str, str | None, str | None]:
    """Where the sweep runs: (executor, Ray address or None, what is wrong or None).

    *This machine*: the store's worker and its slots. *Ray*: a driver the app starts sends the
    jobs to a local Ray (no address) or to a cluster; their events and files come back into this
    store, so the pages follow them as they follow local jobs."""
    labels = {"local": "This machine", "ray": "Ray (local or a cluster)"}
    executor = st.radio("Run on", list(labels), format_func=labels.get, horizontal=True, key="sweep_executor",
                        help="This machine: the worker's slots. Ray: one task per job on a Ray cluster, or on a "
                             "local Ray when no address is given.")
    if executor == "local":
        return executor, None, None
    if not ray_installed():
        return executor, None, INSTALL_HINT
    address = st.text_input("Ray address (optional)", key="sweep_ray_address", placeholder="e.g. ray://head:10001",
                            help="empty: start a local Ray on this machine's cores").strip()
    return executor, address or None, None


def launch(grid: Grid, invalid: list[str]) -> None:
    """Where to run, sweep name and Launch (disabled while any combination is invalid or Ray is
    chosen but missing); a grid above the limit was confirmed before it was expanded (:func:`confirm_size`)."""
    confirmed = len(grid.members) > MAX_JOBS_WITHOUT_CONFIRMATION and bool(st.session_state.get("sweep_confirm"))
    executor, address, problem = executor_choice()
    if problem:
        st.warning(plain(problem))
    name = st.text_input("Sweep name (optional)", key="sweep_name", placeholder="e.g. scores-by-seed")
    ok = not invalid and bool(grid.members) and not problem
    if st.button(f"Launch sweep ({len(grid.members):,} jobs)", type="primary", disabled=not ok, key="launch_sweep"):
        try:
            with st.spinner("starting …"):
                sweep = launcher.submit_sweep(grid, state.cache_dir(), name=name or None, confirmed=confirmed,
                                              executor=executor, address=address)
        except (ValueError, PrunelabError) as exc:  # ConfigError, a data_dir outside the allowed folders, Ray
            st.error(plain(exc))
            return
        st.switch_page("pages/5_Sweeps.py", query_params={"sweep": sweep["id"]})

