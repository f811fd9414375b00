"""Run an experiment: resolve the device, load data, run every repeat, record everything.

:func:`run` is the one entry point the CLI and notebooks share. It creates a job record in the
store (or continues a given one), streams every event to the store and to an optional callback,
and returns a :class:`RunResult` with the rounds and epochs as DataFrames. The worker runs the
jobs it claims with :func:`run_claimed`: the same run, trained together with the job's lockstep
peers where that pays.
Whatever happens — success, cancellation, an exception — the finished rounds stay in the store
and the run folder, and the job record says how it ended.
"""

from __future__ import annotations

import os
import pathlib
import threading
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .config import Config
from .data import load_dataset
from .dense import dense_keys
from .devices import device_label, resolve_device
from .errors import StoreError
from .events import Event, events_to_frames
from .job_session import JobSession, record_failure
from .jobs.store import JobStore
from .loop import RunContext, run_repeat
from .masks import Masks, load_masks
from .models import check_compatible
from .registry import loaded_plugin_files, load_plugins
from .rundir import RunDir
from .summary import build_summary
from .train import Cancelled

SHARE_DENSE_ENV = "PRUNELAB_SHARE_DENSE"


@dataclass
class RunResult:
    """The outcome of :func:`run`: tables built from the events, and access to the masks."""

    job_id: str
    status: str
    config: Config
    run_dir: RunDir
    rounds: Any          # pandas DataFrame, one row per (repeat, round)
    epochs: Any          # pandas DataFrame, one row per (repeat, round, epoch)
    summary: dict

    def masks(self, round_index: int = -1, repeat: int = 0, device: str = "cpu") -> Masks:
        """The masks after round ``round_index`` (−1 = the last finished) of one repeat."""
        files = self.run_dir.repeat(repeat).mask_files()
        if not files:
            raise FileNotFoundError(f"no masks in {self.run_dir.repeat(repeat).folder}")
        path = list(files.values())[round_index] if round_index < 0 else files[round_index]
        return load_masks(path, device)


def run(config: Config | dict, on_event: Callable[[Event], None] | None = None, *,
        cache_dir: str | pathlib.Path | None = None, job_id: str | None = None,
        cancel: threading.Event | None = None, resume: bool = False, origin: str = "api",
        share_dense: bool | None = None) -> RunResult:
    """Run a pruning experiment and return its results.

    ``config`` is a :class:`Config` or a partial dict (validated here). Events go to the job
    store under ``cache_dir`` (default ``cache/``) and to ``on_event``. Give ``job_id`` to run an
    existing (queued) job and ``resume=True`` to continue it after its last finished round.
    Setting ``cancel`` stops the run between two training steps; the status becomes ``cancelled``
    and finished rounds are kept. An exception is recorded in the job (status ``failed``, with
    its traceback) and re-raised. ``share_dense`` (default: on unless ``$PRUNELAB_SHARE_DENSE``
    is ``0``) reuses round 0 from an earlier job of the same store with the same dense phase
    (:mod:`pruning_core.dense`), and publishes the round 0 it trains.
    """
    with JobStore(cache_dir) as store:
        config = _loaded_config(store, job_id, config,
                                (lambda: store.get_job(job_id).get("plugins")) if job_id is not None else list)
        if job_id is None:
            job_id = store.create_job(config.to_dict(), config.hash(), status="running", origin=origin,
                                      plugins=loaded_plugin_files(), dense_keys=dense_keys(config))["id"]
        job = JobSession(store, config, job_id, on_event=on_event, cancel=cancel, resume=resume, origin=origin)
        _run_job(job, _share_dense(share_dense))
        return load_result(job_id, store=store)


def run_claimed(store: JobStore, record: dict, sink_for: Callable[[dict], Callable[[Event], None] | None]) -> None:
    """Run a job the worker has claimed (``store.claim_next``), with its lockstep peers where that pays.

    The peers of a sweep's job are the queued jobs of the same sweep that train in lockstep with
    it (:mod:`pruning_core.lockstep`: the same model, data, training recipe and round schedule;
    seeds, pruners, rates and treatments may differ). Where seed batching pays on the job's
    device for all their repeats together (:mod:`pruning_core.batched.policy`), this claims them
    too and trains every repeat of every job as one batched model; each job keeps its own
    events, folder, heartbeat, cancel button and ending. Otherwise the job runs alone, as
    :func:`run` runs it. ``sink_for(record)`` gives each job's event callback (or None)."""
    job = _session(store, record, sink_for)
    peers = (lambda ctx: _claim_peers(store, record, ctx, sink_for)) if record.get("sweep") else None
    _run_job(job, _share_dense(None), claim_peers=peers)


def _session(store: JobStore, record: dict, sink_for) -> JobSession:
    """A session for a claimed job record (its config as :func:`_loaded_config` loads it)."""
    config = _loaded_config(store, record["id"], record["config"], lambda: record.get("plugins"))
    return JobSession(store, config, record["id"], on_event=sink_for(record), resume=bool(record.get("resume")),
                      origin=record["origin"])


def _loaded_config(store: JobStore, job_id: str | None, config: Config | dict, plugins: Callable[[], list | None],
                   record_in_job: bool = True) -> Config:
    """``config`` validated, after loading the plug-in files ``plugins()`` names. A queued job's
    config or plug-ins that no longer load fail the job ``job_id`` with the reason (unless
    ``record_in_job`` is False: a job this process has not claimed)."""
    try:
        load_plugins(plugins() or [])
        return config if isinstance(config, Config) else Config.from_dict(config)
    except Exception as exc:
        if record_in_job and job_id is not None and not isinstance(exc, (KeyError, StoreError)):
            record_failure(store, job_id, exc, emit=lambda *a, **k: None)
        raise


def _share_dense(share_dense: bool | None) -> bool:
    return share_dense if share_dense is not None else os.environ.get(SHARE_DENSE_ENV, "1") != "0"


def _run_job(job: JobSession, share_dense: bool,
             claim_peers: Callable[[RunContext], list[JobSession]] | None = None) -> None:
    """Run every repeat of an existing job record, and record in it how the run ended.

    Everything, from reading the job's run folder on, happens inside one ``try``: whatever fails
    leaves the job ``failed`` with the reason, never ``running`` without one. ``claim_peers(ctx)``
    gives the jobs that train together with this one (none: it trains alone)."""
    config = job.config
    try:
        device = resolve_device(config.device)
        job.open(device)
        data = _load_data(config, device)
        ctx = job.context(data, device, share_dense)
        peers = claim_peers(ctx) if claim_peers is not None else []
        if peers:
            _run_with_peers(job, ctx, peers, share_dense)
            return
        together = _seeds_together(ctx)
        job.announce(device, data, together)
        if together:
            from .batched.driver import run_repeats_together
            run_repeats_together(ctx, range(config.repeats))
        else:
            for repeat in range(config.repeats):
                run_repeat(ctx, repeat)
        job.end("finished")
    except Cancelled:
        job.end("cancelled")
    except BaseException as exc:
        job.end("failed", exc)
        raise


def _claim_peers(store: JobStore, record: dict, ctx: RunContext, sink_for) -> list[JobSession]:
    """Claim the queued lockstep peers of ``record`` that train with it (at most
    ``MAX_SEEDS_TOGETHER`` repeats in all), when seed batching pays for them on this device; their
    sessions (none: the job trains alone).

    A peer is taken only if its lockstep key, computed again with the code that runs, equals the
    job's, and if none of its repeats' dense round 0 is one that a job already in the group
    trains (that round is trained once, then reused: :mod:`pruning_core.dense`)."""
    from .batched.policy import MAX_SEEDS_TOGETHER, batching_pays, may_pay, measure_ratio
    from .dense import published
    from .lockstep import lockstep_key

    config, model = ctx.config, ctx.config.model.name
    key = lockstep_key(config)
    if key is None or not may_pay(ctx.device, model):      # this CPU: no look at the queue at all
        return []
    candidates = store.peers(record)
    room = min(len(candidates), MAX_SEEDS_TOGETHER // config.repeats - 1)
    if room < 1:
        return []
    n = config.repeats * (1 + room)
    if not batching_pays(ctx.device, model, n, measure=lambda: measure_ratio(ctx.data, config.training, model, n)):
        return []
    def untrained(r: dict) -> set[str]:
        return {k for k in r.get("dense_keys") or [] if k and not published(store.root, k)}

    sessions, repeats, dense = [], config.repeats, untrained(record)
    for candidate in candidates:
        if len(sessions) >= room or repeats >= MAX_SEEDS_TOGETHER:
            break
        keys = untrained(candidate)
        if keys & dense:
            continue
        try:
            peer_config = _loaded_config(store, candidate["id"], candidate["config"],
                                         lambda: candidate.get("plugins"), record_in_job=False)
        except Exception:                     # a config that no longer loads: its own claim will say so
            continue
        if lockstep_key(peer_config) != key or repeats + peer_config.repeats > MAX_SEEDS_TOGETHER:
            continue
        if store.claim(candidate["id"], os.getpid(), device=device_label(ctx.device)) is None:
            continue                          # another worker took it meanwhile
        sessions.append(JobSession(store, peer_config, candidate["id"], on_event=sink_for(candidate),
                                   resume=bool(candidate.get("resume")), origin=candidate["origin"]))
        repeats += peer_config.repeats
        dense |= keys
    return sessions


def _run_with_peers(job: JobSession, ctx: RunContext, peers: list[JobSession], share_dense: bool) -> None:
    """Train ``job`` (opened, its context ``ctx``) and its claimed ``peers`` together, every job
    ending on its own (:func:`~pruning_core.batched.driver.run_jobs_together`)."""
    from .batched.driver import run_jobs_together

    members = [(ctx, job)]
    for peer in peers:
        try:
            peer.open(ctx.device)
            members.append((peer.context(ctx.data, ctx.device, share_dense), peer))
        except Exception as exc:
            peer.end("failed", exc)
    session_of = {id(c): session for c, session in members}

    def end_job(c: RunContext, exc: BaseException) -> None:
        session_of[id(c)].end("cancelled" if isinstance(exc, Cancelled) else "failed", exc)

    try:
        ids = [session.job_id for _, session in members]
        for c, session in members:
            session.announce(c.device, c.data, True, trained_with=[i for i in ids if i != session.job_id])
        run_jobs_together([(c, range(session.config.repeats)) for c, session in members], end_job)
    except BaseException as exc:
        for _, session in members[1:]:
            session.end("cancelled" if isinstance(exc, Cancelled) else "failed", exc)
        raise
    for _, session in members:
        session.end("finished")


def _load_data(config: Config, device: torch.device):
    """The job's dataset on ``device``, checked against its model."""
    data = load_dataset(config.dataset.name, data_dir=config.dataset.data_dir, device=device,
                        download=config.dataset.download, augment=config.dataset.augment)
    spec = data.spec
    check_compatible(config.model.name, in_channels=spec.in_channels, num_classes=spec.num_classes,
                     input_size=spec.input_size)
    return data


def _seeds_together(ctx: RunContext) -> bool:
    """Whether the job's repeats train as one batched model (:mod:`pruning_core.batched`): where
    it was measured to pay on this device (a stored figure, or on a GPU without one a measurement
    on this job's data; ``$PRUNELAB_SEED_BATCHING`` = on/off/auto) and the algorithm runs its
    repeats in lockstep."""
    from .batched.checks import NotBatchable
    from .batched.driver import check_lockstep
    from .batched.policy import batching_pays, measure_ratio

    model, n = ctx.config.model.name, ctx.config.repeats
    if not batching_pays(ctx.device, model, n, measure=lambda: measure_ratio(ctx.data, ctx.config.training, model, n)):
        return False
    try:
        check_lockstep(ctx)
    except NotBatchable:
        return False
    return True


def load_result(job_id: str, *, cache_dir: str | pathlib.Path | None = None,
                store: JobStore | None = None) -> RunResult:
    """Rebuild a :class:`RunResult` of any stored job from its events (``store``: an open one)."""
    if store is None:
        with JobStore(cache_dir) as opened:
            return load_result(job_id, store=opened)
    record = store.get_job(job_id)
    events = store.events(job_id)
    rounds, epochs = events_to_frames(events)
    summary = build_summary(record, events, rounds, versions={"torch": torch.__version__})
    return RunResult(job_id, record["status"], Config.from_dict(record["config"]), store.run_dir(job_id),
                     rounds, epochs, summary)
