"""Sweeps: many what-ifs at once (torch-free except where an executor runs jobs).

* :mod:`.grid` — axes over config fields, expanded and validated before anything is queued
* :mod:`.table` — the sweep's rounds with the axis values as columns, and per-combination summaries
* :func:`queue_sweep` — every member enters the job store's queue in one transaction; the local
  worker (a scheduler with slots) or the Ray executor runs them
"""

from __future__ import annotations

import pathlib

from .grid import MAX_JOBS_WITHOUT_CONFIRMATION, Axis, Grid, Member, describe_values, expand, parse_axis
from .table import sweep_rounds, sweep_summary


def queue_sweep(grid: Grid, cache_dir: str | pathlib.Path | None = None, *, name: str | None = None,
                origin: str = "api", confirmed: bool = False, plugins: list[str] | None = None,
                executor: str = "local", address: str | None = None) -> dict:
    """Check ``grid`` (every member valid, the size confirmed) and queue all of it for ``executor``
    (``local``: the store's worker; ``ray``: a Ray driver, at ``address``); return the sweep
    record. Nothing is queued when the check fails."""
    from ..dense import dense_keys
    from ..jobs.store import JobStore
    from ..lockstep import lockstep_key

    grid.check(confirmed)
    spec = {"base": grid.base, "axes": [a.to_dict() for a in grid.axes], "zipped": grid.zipped}
    members = [(m.config.to_dict(), m.config.hash(), m.values, dense_keys(m.config), lockstep_key(m.config))
               for m in grid.members]
    with JobStore(cache_dir) as store:
        return store.create_sweep(spec, members, name=name, origin=origin, plugins=plugins, executor=executor,
                                  address=address)


__all__ = ["Axis", "Grid", "MAX_JOBS_WITHOUT_CONFIRMATION", "Member", "describe_values", "expand", "parse_axis",
           "queue_sweep", "sweep_rounds", "sweep_summary"]
