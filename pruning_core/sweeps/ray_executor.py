"""The Ray executor: a sweep's jobs run as Ray tasks on a cluster (or a local Ray), the job store
stays on this machine.

``execute_ray(sweep, cache_dir, on_job_done, address=..., slots=...)`` is the ``ray`` executor of
:func:`pruning_core.sweeps.execute.execute`. Ray is optional (``pip install -r
requirements-ray.txt``) and imported only by :mod:`.ray_connect`, only when this executor is chosen.

Why Ray core tasks and not Ray Tune
-----------------------------------
The job store already is the experiment record: the grid is expanded and validated before
anything is queued, every job has a record, an event stream, a run folder, a Cancel button and
its own resume (``store.requeue``). Tune would bring a second of each — its own grid
(``grid_search``), trial ids, experiment folder, checkpoint format and restore (of a whole
experiment, not of one requeued job) — and its checkpoints travel through a *storage path* that
every node must reach (a shared file system or a cloud bucket), which is exactly what remote nodes
here do not have. Stopping one trial from outside takes a custom stopper that acts only when the
trial reports. What is left of Tune for us — fractional GPUs, placement, retries — is Ray core
(``num_gpus=0.5`` on a task). So each job is one Ray task, and a small actor carries its events
and files back to this process, which writes them into the store.

How a job runs
--------------
* **Claim.** The driver (this process) claims a queued job of the sweep in the store — status
  ``running``, ``worker_pid`` = this process, a heartbeat — before dispatching it, so the local
  worker never runs it too, and only while fewer than ``slots`` (default: what the cluster's CPUs
  or GPUs hold) of its jobs are in flight; the others stay queued. A finished job is never rerun;
  a requeued one (``resume=True``) resumes.
* **Remote run.** The task runs :func:`pruning_core.runner.run` in a private temporary cache on
  whatever node Ray picks (a requeued job's run folder is sent along first and written there).
  Every event goes back through the actor with the run-folder files that changed since the last
  one (the ``round`` event brings its masks and weights, the next one the commit point
  ``state.json``, always after the files it names, and the superseded files the commit deleted).
* **Store.** The driver writes those files into ``runs/<job>/`` (:func:`~pruning_core.rundir.atomic_write`,
  ``state.json`` last), appends each event under the real job id, keeps the heartbeat and the
  progress fresh and records how the task ended (``finished``; ``failed`` with the remote error;
  ``cancelled``; ``interrupted`` when the Ray worker or node died: resumable like any job). The
  Monitor, Compare and sweep pages read the store as for a local job, live.
* **Cancel.** A job whose record asks for cancellation (the Cancel button, ``store.request_cancel``)
  is told so through the actor; the run stops between two training steps, as a local one does,
  and its finished rounds stay. A task that has not started, or that does not stop within
  :data:`CANCEL_GRACE_SECONDS`, is cancelled by Ray (``ray.cancel(force=True)``).

Code and data on the nodes
--------------------------
When this executor starts Ray (or connects to ``address``), it ships the ``pruning_core`` package
with the job (``runtime_env={"py_modules": ...}``, :func:`ray_runtime_env`), so the nodes run this
very code; they need Prunelab's requirements (``requirements.txt``) installed. A node loads
datasets from its own data folder (``$PRUNELAB_DATA`` there, which a local Ray inherits from
this process). Plug-in files the jobs use are sent with each job. A Ray that is already
initialised (``ray.init`` in a notebook) is used as it is and left running: give it
``runtime_env=ray_runtime_env()`` where its workers cannot import ``pruning_core``.

Round 0 is not shared between jobs under Ray (each task's cache is private), so jobs that
differ only after round 0 each train it; their results are the same as with sharing.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from .ray_connect import RayExecutorError, connect, import_ray, ray_runtime_env  # noqa: F401 - the executor's API
from .ray_task import Channel, inside_folder, is_shippable, run_job_task
from .status import STOPPED, job_states

POLL_SECONDS = 0.2               # the driver's loop: drain messages, finished tasks, dispatch
HEARTBEAT_SECONDS = 2.0          # the driver refreshes each running job's heartbeat and progress this often
CANCEL_GRACE_SECONDS = 20.0      # then Ray kills a task that has not stopped by itself
CPUS_PER_JOB = 1.0
GPUS_PER_JOB_ENV = "PRUNELAB_RAY_GPUS_PER_JOB"   # e.g. 0.5: two jobs share a GPU


# ---- the channel between the tasks and the driver -----------------------------------------------

@dataclass
class Flight:
    """One job's task in flight."""

    ref: Any
    started: bool = False
    cancel_at: float | None = None
    killed: bool = False
    last_beat: float = 0.0
    progress: dict = field(default_factory=dict)
    device: str | None = None
    gpus: float = 0.0
    host: str | None = None


def run_folder_files(run_dir) -> list[tuple[str, bytes]]:
    """Every whole file of a run folder as (relative name, bytes), ``state.json`` files last."""
    root = run_dir.root
    if not root.is_dir():
        return []
    rels = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    rels = sorted((r for r in rels if is_shippable(r)), key=lambda r: (r.name == "state.json", r.as_posix()))
    return [(r.as_posix(), (root / r).read_bytes()) for r in rels]


def plugin_payload(paths: list[str]) -> list[tuple[str, bytes | None]]:
    """The plug-in files a job names, as (file name, bytes); (path, None) for one that is missing."""
    from ..registry import expand_plugin_paths

    out = []
    for path in expand_plugin_paths(paths or []):
        try:
            out.append((path.name, path.read_bytes()))
        except OSError:
            out.append((str(path), None))
    return out


def gpus_per_job(config: dict, cluster_gpus: float) -> float:
    """GPUs a job asks Ray for: none on a cluster without GPUs or for a CPU config, else
    ``$PRUNELAB_RAY_GPUS_PER_JOB`` (default 1; a fraction lets jobs share a GPU)."""
    device = str(config.get("device") or "auto")
    if cluster_gpus <= 0 or device == "cpu" or device.startswith("mps"):
        return 0.0
    return float(os.environ.get(GPUS_PER_JOB_ENV) or 1.0)


class Driver:
    """The loop of :func:`execute_ray`: dispatch, stream into the store, heartbeats, cancel."""

    def __init__(self, ray, store, sweep: dict, on_job_done: Callable[[dict], None] | None, slots: int | None):
        self.ray, self.store, self.sweep, self.on_job_done = ray, store, sweep, on_job_done
        self.pid = os.getpid()
        resources = ray.cluster_resources()
        self.cluster_gpus = float(resources.get("GPU", 0.0))
        self.slots_given = bool(slots)
        self.capacity = max(1, int(slots) if slots else int(resources.get("CPU", 1.0) // CPUS_PER_JOB))
        self.channel = ray.remote(num_cpus=0, max_restarts=0)(Channel).options(**_near_driver(ray)).remote()
        self.task = ray.remote(max_retries=0)(run_job_task)
        self.flights: dict[str, Flight] = {}
        self.reported: set[str] = set()

    # -- dispatch --

    def room_for(self, record: dict) -> bool:
        """Whether one more job fits: fewer than ``capacity`` in flight and, without ``slots``,
        its GPU share free (so jobs waiting for a GPU stay queued, not "running" in Ray's queue)."""
        if len(self.flights) >= self.capacity:
            return False
        gpus = gpus_per_job(record["config"], self.cluster_gpus)
        used = sum(f.gpus for f in self.flights.values())
        return self.slots_given or not gpus or not self.flights or used + gpus <= self.cluster_gpus + 1e-9

    def dispatch(self, record: dict) -> None:
        job_id = record["id"]
        config = record["config"]
        gpus = gpus_per_job(config, self.cluster_gpus)
        files = run_folder_files(self.store.run_dir(job_id)) if record.get("resume") else []
        if gpus and str(config.get("device", "")).startswith("cuda:"):
            config = {**config, "device": "cuda"}     # the task sees only the GPU Ray gave it, as cuda:0
        job = {"id": job_id, "config": config, "config_hash": record["config_hash"],
               "origin": record.get("origin") or "api", "resume": bool(record.get("resume"))}
        ref = self.task.options(num_cpus=CPUS_PER_JOB, num_gpus=gpus, name=f"prunelab:{job_id}").remote(
            job, self.channel, files, plugin_payload(record.get("plugins") or []), int(CPUS_PER_JOB))
        self.flights[job_id] = Flight(ref, last_beat=time.monotonic(), progress=dict(record.get("progress") or {}),
                                      gpus=gpus)

    def fill(self, states: dict[str, dict]) -> None:
        """Claim and dispatch queued jobs of the sweep while there is room."""
        for job_id in self.sweep["jobs"]:
            if len(self.flights) >= self.capacity:
                return
            if job_id in self.flights or states[job_id]["status"] != "queued" or not self.room_for(states[job_id]):
                continue
            record = self.store.claim(job_id, self.pid)
            if record is None:
                continue
            try:
                self.dispatch(record)
            except Exception as exc:  # noqa: BLE001 - e.g. an unreadable run folder to resume: this job fails
                now = time.time()
                self.store.update_job(job_id, status="failed", finished=now, heartbeat=now,
                                      error=f"the Ray executor could not start it: {type(exc).__name__}: {exc}",
                                      traceback=traceback.format_exc())

    # -- messages --

    def drain(self) -> None:
        for job_id, message in self.ray.get(self.channel.drain.remote()):
            self.apply(job_id, message)

    def apply(self, job_id: str, message: dict) -> None:
        from ..rundir import atomic_write

        flight = self.flights.get(job_id)
        if message.get("started"):
            if flight is not None:
                flight.started, flight.host = True, message.get("host")
            return
        root = self.store.run_dir(job_id).mkdir().root
        for rel, data in message.get("files", ()):
            atomic_write(inside_folder(root, rel), lambda f, d=data: f.write(d))
        for rel in message.get("removed", ()):
            inside_folder(root, rel).unlink(missing_ok=True)
        event = message.get("event")
        if event is not None:
            self.store.append_event(job_id, {**event, "job": job_id})
        if flight is not None:
            if message.get("progress"):
                flight.progress = dict(message["progress"])
            if event is not None and event.get("type") == "run_started" and event.get("planned_epochs") is not None:
                flight.progress["epochs_total"] = event["planned_epochs"]
            if message.get("device"):
                flight.device = message["device"]

    # -- heartbeats, cancel, ends --

    def beat(self) -> None:
        now = time.monotonic()
        for job_id, flight in self.flights.items():
            if now - flight.last_beat >= HEARTBEAT_SECONDS:
                flight.last_beat = now
                fields = {"progress": flight.progress} if flight.progress else {}
                if flight.device:
                    fields["device"] = flight.device
                if self.store.heartbeat(job_id, **fields) and flight.cancel_at is None:
                    self.cancel(job_id, flight)
            if flight.cancel_at is not None and not flight.killed and now - flight.cancel_at > CANCEL_GRACE_SECONDS:
                self.kill(flight)

    def cancel(self, job_id: str, flight: Flight) -> None:
        flight.cancel_at = time.monotonic()
        self.channel.cancel.remote(job_id)
        if not flight.started:            # nothing ran yet: take it off Ray's queue
            self.kill(flight)

    def kill(self, flight: Flight) -> None:
        flight.killed = True
        with contextlib.suppress(Exception):
            self.ray.cancel(flight.ref, force=True)

    def collect(self) -> None:
        """Record the end of every task that has returned (after draining its last messages)."""
        if not self.flights:
            return
        refs = [f.ref for f in self.flights.values()]
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        if not ready:
            return
        self.drain()
        ready = set(ready)
        for job_id, flight in list(self.flights.items()):
            if flight.ref in ready:
                self.finish(job_id, flight)

    def finish(self, job_id: str, flight: Flight) -> None:
        """Write how a returned task ended into its job record."""
        fields = self.outcome(flight)
        if flight.progress:
            fields["progress"] = flight.progress
        if flight.device:
            fields["device"] = flight.device
        now = time.time()
        self.store.update_job(job_id, finished=now, heartbeat=now, **fields)
        del self.flights[job_id]

    def outcome(self, flight: Flight) -> dict:
        """The record fields of a returned task: its own account, or what Ray says happened."""
        ray = self.ray
        try:
            result = ray.get(flight.ref)
        except ray.exceptions.TaskCancelledError:
            return {"status": "cancelled"}
        except _died_errors(ray) as exc:
            if flight.cancel_at is not None:
                return {"status": "cancelled"}
            where = f" on {flight.host}" if flight.host else ""
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
            return {"status": "interrupted", "error": f"the Ray worker running it{where} died ({reason}); "
                                                      "requeue it to resume"}
        except ray.exceptions.RayTaskError as exc:
            if flight.killed:
                return {"status": "cancelled"}
            cause = getattr(exc, "cause", None) or exc
            error = f"{type(cause).__name__}: {_first_line(cause)}"
            if isinstance(cause, ModuleNotFoundError) and "pruning_core" in str(cause):
                error += (" (Ray's workers cannot import Prunelab: initialise Ray with runtime_env="
                          "pruning_core.sweeps.ray_executor.ray_runtime_env(), or let the executor start Ray)")
            return {"status": "failed", "error": error, "traceback": str(exc)}
        except Exception as exc:  # noqa: BLE001 - any other Ray failure ends this job, not the sweep
            return {"status": "failed", "error": f"{type(exc).__name__}: {_first_line(exc)}",
                    "traceback": traceback.format_exc()}
        if result.get("progress"):
            flight.progress = dict(result["progress"])
        if result.get("device"):
            flight.device = result["device"]
        return {"status": result["status"], "error": result.get("error"), "traceback": result.get("traceback")}

    def report(self, states: dict[str, dict]) -> None:
        for job_id, record in states.items():
            if job_id in self.flights or job_id in self.reported or record["status"] not in STOPPED:
                continue
            self.reported.add(job_id)
            if self.on_job_done is not None:
                self.on_job_done(record)

    def run(self) -> dict[str, dict]:
        try:
            while True:
                self.drain()
                self.collect()
                self.beat()
                states = job_states(self.store, self.sweep)
                for job_id, flight in self.flights.items():
                    if states[job_id].get("cancel_requested") and flight.cancel_at is None:
                        self.cancel(job_id, flight)
                self.report(states)
                self.fill(states)
                if not self.flights and len(self.reported) == len(states):
                    return job_states(self.store, self.sweep)
                time.sleep(POLL_SECONDS)
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Leaving with tasks in flight (an error, Ctrl-C): stop them, keep what they shipped,
        and leave their jobs interrupted (resumable)."""
        for job_id, flight in list(self.flights.items()):
            self.kill(flight)
            with contextlib.suppress(Exception):
                self.store.update_job(job_id, status="interrupted", heartbeat=time.time(),
                                      error="the Ray executor stopped before the job ended (requeue it to resume)")
        self.flights.clear()
        with contextlib.suppress(Exception):
            self.ray.kill(self.channel)


def _near_driver(ray) -> dict:
    """Actor options preferring this process's node (the channel then dies only with the driver)."""
    try:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = ray.get_runtime_context().get_node_id()
        return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node, soft=True)} if node else {}
    except Exception:  # noqa: BLE001 - a placement hint only
        return {}


def _died_errors(ray) -> tuple[type[BaseException], ...]:
    """Ray's errors for a task whose worker process or node died (those this Ray version has)."""
    names = ("WorkerCrashedError", "NodeDiedError", "ObjectLostError", "OutOfMemoryError")
    return tuple(getattr(ray.exceptions, n) for n in names if isinstance(getattr(ray.exceptions, n, None), type))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def execute_ray(sweep: dict, cache_dir=None, on_job_done: Callable[[dict], None] | None = None, *,
                address: str | None = None, slots: int | None = None) -> dict[str, dict]:
    """Run a queued sweep's jobs as Ray tasks until every job has stopped; return {job id: record}.

    ``address``: a Ray cluster (``ray://head:10001``, ``head:6379``, ``auto``); None starts a
    local Ray (``slots`` CPUs) unless one is already initialised in this process, which is used
    as it is. ``slots``: at most this many jobs in flight (default: what the cluster's CPUs, and
    GPUs where the jobs use them, hold). ``on_job_done(record)`` is called once per job as it
    stops. One process drives a sweep at a time (a lock in the store). Raises RayExecutorError when
    Ray is not installed, ``address`` cannot be reached or another process drives the sweep."""
    from ..jobs.store import JobStore
    from ..jobs.worker import WorkerLock, driver_lock_path, lock_holder

    ray = import_ray()
    with JobStore(cache_dir) as store:
        lock = WorkerLock(driver_lock_path(store.root, sweep["id"]))
        if not lock.acquire():
            raise RayExecutorError(f"sweep {sweep['id']}: the process {lock_holder(lock.path)} already drives its "
                                   "jobs on Ray (cancel them there, or wait for it to end)")
        try:
            started = connect(ray, address, slots)
            try:
                return Driver(ray, store, sweep, on_job_done, slots).run()
            finally:
                if started:
                    ray.shutdown()
        finally:
            lock.release()
