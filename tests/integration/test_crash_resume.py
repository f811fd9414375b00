"""Issue 8's acceptance test: SIGKILL a real worker at random instants, resume, and get the
uninterrupted run back, for IMP+WR, LRR, AIMP, ASNI and BIMP.

Procedure
---------
1. **References.** Each method's tiny config (LeNet-300-100 on scikit-learn's digits, a few
   epochs, 4–8 rounds; about a second of training each) is queued in a reference store and run
   *uninterrupted* by one real worker subprocess (``python -m pruning_core worker``, which calls
   ``pruning_core.runner.run``), with ``OMP_NUM_THREADS=1`` like every worker below, so the
   reference and the crashed runs execute the very same code path and thread count.
2. **Crashes.** In a fresh store per method, the same config is queued and a worker subprocess
   started. A seeded ``random.Random`` (one per method, so the choices are reproducible) picks
   an event number ``k`` past the job's current event count (from just after the new worker's
   ``run_started`` up to the reference's remaining events divided among the kills still to
   make, so kills spread over the run) and a delay of 0–300 ms; once
   ``store.event_count(job) >= k`` the test sleeps the delay and sends SIGKILL.
   Kills therefore land inside the job's work (training, mask/weight writes, the round event,
   the commit, the resume itself), never during the worker's torch import. The job is then
   requeued (``store.requeue``: ``resume=True``) and a new worker started and killed again,
   ``KILLS_PER_METHOD`` times; then a last worker runs it to the end. (Each next worker is
   started as soon as the killed one is gone, so its torch import overlaps the checks below; it
   cannot touch the job before the requeue, since a worker only claims queued jobs.) A kill only counts when it
   interrupted a running job; one that lands after the job finished does not, and the kills
   still missing then go to a new job of the same config (checked the same way).
3. **After every kill** (before the requeue): the job shows as ``interrupted`` within a few
   seconds (liveness), never stuck as ``running``; its record, its events, its commit point
   (``state.json``), the weights the commit names and every mask file a reader lists are
   readable; the round and epoch tables are a prefix of the reference's (no duplicated, missing
   or different round or epoch so far); the progress never exceeds its total.
4. **At the end:** status ``finished``; the rounds table (what ``rounds.csv`` exports) equals the
   reference on every column but ``seconds``; the epochs table too (all but ``seconds`` and
   ``eta_seconds``), with the same (round, epoch) keys; no (repeat, round) or
   (repeat, round, epoch) is duplicated, neither in the tables nor in the event stream once
   superseded events are dropped (``events.committed_events``: the tables drop duplicates
   keeping the last, which would hide a resume that re-emits rows nothing superseded); the
   masks of every round equal the reference's bit for bit; ``progress.epochs_done ==
   epochs_total``; the run folder holds exactly the reference's files,
   and no temporary (``*.tmp*``) file; ASNI's summary event equals the reference's.

Every violation is collected (the test goes on to the end of each method) and reported together.
``pytest -s`` prints a summary: kills per method, where each landed, the worker starts.

Environment knobs: ``CRASH_RESUME_SEED`` (default 0) re-draws every choice;
``CRASH_RESUME_PARALLEL`` (default 2) is how many methods run at once (one worker each).
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import pathlib
import random
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from pruning_core.config import Config
from pruning_core.events import committed_events
from pruning_core.jobs.store import JobStore
from pruning_core.runner import load_result

REPO = pathlib.Path(__file__).resolve().parents[2]

# Tiny configs, LeNet-300-100 on digits, batch 30 (48 steps per epoch, ~0.1 s per epoch on one thread).
METHODS: dict[str, dict] = {
    # IMP with weight rewinding to θ_k, k = 1: 4 dense epochs, then 5 rounds of 3 epochs.
    "IMP+WR": {"training": {"epochs": 4, "batch_size": 30},
               "algorithm": {"name": "imp", "rounds": 5, "rate": 0.2, "treatment": "rewind", "rewind_epoch": 1}},
    # IMP with learning-rate rewinding: keep the trained weights, replay schedule epochs k..T−1.
    "LRR": {"training": {"epochs": 4, "batch_size": 30},
            "algorithm": {"name": "imp", "rounds": 5, "rate": 0.2, "treatment": "keep", "rewind_epoch": 1,
                          "lr_policy": {"name": "replay"}}},
    # AIMP: τ = 3, so rounds 1..4 retrain τ − k = 2 epochs and the last one T − k = 4.
    "AIMP": {"training": {"epochs": 5, "batch_size": 30},
             "algorithm": {"name": "imp", "rounds": 5, "rate": 0.2, "treatment": "rewind", "rewind_epoch": 1,
                           "partial_epochs": 3}},
    # ASNI: 6 gradual epochs (one optimizer, saved with each round), then ASNI-II and the control.
    "ASNI": {"training": {"epochs": 6, "batch_size": 30},
             "algorithm": {"name": "asni", "schedule": {"name": "sigmoid", "target_sparsity": 0.8}}},
    # BIMP: a budget of 14 epochs, 2 dense, then 4 rounds of 3 epochs with ALLR.
    "BIMP": {"training": {"epochs": 14, "batch_size": 30},
             "algorithm": {"name": "bimp", "rounds": 4, "rate": 0.2, "dense_epochs": 2}},
}

KILLS_PER_METHOD = 5            # aimed at; ≥ 4 per method and ≥ 20 in all must interrupt a running job
MAX_WORKER_STARTS = 12          # per method, kills and the final runs together
KILL_DELAY = (0.0, 0.3)         # seconds slept once the kill's event number is reached, then SIGKILL
WORKER_IDLE_EXIT = 30.0         # the next worker starts before the requeue, so it must wait for it
DONE = ("finished", "failed", "cancelled")
LIVENESS_DEADLINE = 6.0         # seconds a killed job may show as running before it must read interrupted
RUN_DEADLINE = 120.0            # seconds one worker may take to reach its kill point or finish
VOLATILE_ROUND = {"seconds"}
VOLATILE_EPOCH = {"seconds", "eta_seconds"}
VOLATILE_EVENT = {"time", "seconds", "eta_seconds"}


# ---- helpers ---------------------------------------------------------------------------------

def worker_env() -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    env.pop("PRUNELAB_CACHE", None)
    return env


def start_worker(cache: pathlib.Path, log: pathlib.Path, idle_exit: float = 1.0) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "pruning_core", "--cache", str(cache), "worker",
                                 "--idle-exit", str(idle_exit)], cwd=REPO, env=worker_env(),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    """Make sure a worker this test started is gone (by its own pid)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def tail(path: pathlib.Path, n: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def same_value(a, b) -> bool:
    """Exact equality, NaN/None equal to themselves, floats to 1e-12, dicts and lists recursively."""
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    if missing(a) or missing(b):
        return missing(a) and missing(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(float(a) - float(b)) <= 1e-12
    return a == b


def table_differences(got, want, key: list[str], volatile: set[str], what: str, prefix: bool = False) -> list[str]:
    """How ``got`` differs from ``want`` (or from its first len(got) rows when ``prefix``)."""
    problems = []
    got_cols, want_cols = set(got.columns) - volatile, set(want.columns) - volatile
    if got_cols != want_cols and not (prefix and got_cols <= want_cols):
        problems.append(f"{what}: columns differ: only here {sorted(got_cols - want_cols)}, "
                        f"only in the reference {sorted(want_cols - got_cols)}")
    got_keys = [tuple(int(v) for v in row) for row in got[key].itertuples(index=False)]
    want_keys = [tuple(int(v) for v in row) for row in want[key].itertuples(index=False)]
    if len(set(got_keys)) != len(got_keys):
        dup = sorted({k for k in got_keys if got_keys.count(k) > 1})
        problems.append(f"{what}: duplicated {key} {dup}")
    expected = want_keys[:len(got_keys)] if prefix else want_keys
    if got_keys != expected:
        missing = [k for k in expected if k not in got_keys]
        extra = [k for k in got_keys if k not in expected]
        problems.append(f"{what}: {key} keys differ from the reference{' (prefix)' if prefix else ''}: "
                        f"missing {missing[:8]}, unexpected {extra[:8]}")
        return problems
    want_rows = want.iloc[:len(got_keys)] if prefix else want
    for col in sorted(got_cols & want_cols):
        for i, (a, b) in enumerate(zip(got[col].tolist(), want_rows[col].tolist())):
            if not same_value(a, b):
                problems.append(f"{what}: {col} differs at {dict(zip(key, got_keys[i]))}: {a!r} vs reference {b!r}")
                break
    return problems


def duplicated_stream_keys(events: list[dict]) -> list[tuple]:
    """(type, repeat, round[, epoch]) that occur twice among the events that count."""
    seen, dup = set(), []
    for e in committed_events(events):
        if e["type"] == "round":
            k = ("round", e.get("repeat"), e.get("round"))
        elif e["type"] == "epoch":
            k = ("epoch", e.get("repeat"), e.get("round"), e.get("epoch"))
        else:
            continue
        if k in seen:
            dup.append(k)
        seen.add(k)
    return dup


def run_files(root: pathlib.Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def temporary_files(root: pathlib.Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".tmp" in p.name)


@dataclass
class Reference:
    job_id: str
    rounds: object
    epochs: object
    masks: dict
    files: set
    progress: dict
    events: list


@dataclass
class Kill:
    k: int
    delay: float
    last_event: str
    committed: int | None
    seconds_to_interrupted: float | None = None
    seconds_to_first_event: float | None = None


@dataclass
class Outcome:
    method: str
    kills: list[Kill] = field(default_factory=list)
    late: int = 0                      # kills that landed after the job had finished
    jobs: int = 0                      # jobs run (a new one when one finished before enough kills)
    starts: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def read_masks(store: JobStore, job_id: str) -> dict:
    files = store.run_dir(job_id).repeat(0)
    return {r: files.load_masks(r) for r in files.mask_files()}


# ---- the reference runs ------------------------------------------------------------------------

def run_references(root: pathlib.Path) -> dict[str, Reference]:
    """Every method's uninterrupted run, by one worker subprocess (the same path as the crashes)."""
    cache = root / "reference"
    with JobStore(cache) as store:
        ids = {}
        for method, partial in METHODS.items():
            config = Config.from_dict(partial)
            ids[method] = store.create_job(config.to_dict(), config.hash(), status="queued", origin="test")["id"]
            time.sleep(0.01)                      # distinct creation times keep the queue order
    log = root / "reference.log"
    proc = start_worker(cache, log)
    try:
        proc.wait(timeout=300)
    finally:
        stop(proc)
    refs = {}
    with JobStore(cache) as store:
        for method, job_id in ids.items():
            record = store.get_job(job_id)
            assert record["status"] == "finished", f"{method}: the reference run ended {record['status']}: " \
                                                   f"{record.get('error')}\n{tail(log)}"
            result = load_result(job_id, store=store)
            refs[method] = Reference(job_id, result.rounds, result.epochs, read_masks(store, job_id),
                                     run_files(store.run_dir(job_id).root), record["progress"],
                                     store.events(job_id))
    return refs


# ---- one method, killed again and again ------------------------------------------------------

def check_after_kill(store: JobStore, job_id: str, ref: Reference, n: int) -> list[str]:
    """What must hold once a killed job reads interrupted (before it is requeued)."""
    where = f"after kill {n}"
    problems = []
    if any(j["status"] == "unreadable" for j in store.list_jobs()):
        problems.append(f"{where}: the store lists an unreadable job")
    record = store.get_job(job_id)
    progress = record.get("progress") or {}
    if progress.get("epochs_total") is not None and progress.get("epochs_done", 0) > progress["epochs_total"]:
        problems.append(f"{where}: progress overshoots: {progress['epochs_done']}/{progress['epochs_total']}")
    try:
        events = store.events(job_id)
    except Exception as exc:                                       # noqa: BLE001
        return problems + [f"{where}: the events are unreadable: {type(exc).__name__}: {exc}"]
    dup = duplicated_stream_keys(events)
    if dup:
        problems.append(f"{where}: duplicated round/epoch events that count: {dup[:6]}")
    run_dir = store.run_dir(job_id)
    files = run_dir.repeat(0)
    for r, path in files.mask_files().items():
        try:
            files.load_masks(r)
        except Exception as exc:                                   # noqa: BLE001
            problems.append(f"{where}: listed mask file {path.name} is unreadable: {type(exc).__name__}: {exc}")
    try:
        state = files.committed()
    except Exception as exc:                                       # noqa: BLE001
        problems.append(f"{where}: the commit point is unreadable: {type(exc).__name__}: {exc}")
        state = None
    if state is not None:
        try:
            files.load_weights(files.last_weights())
        except Exception as exc:                                   # noqa: BLE001
            problems.append(f"{where}: the committed weights {state.get('weights')} are unreadable: "
                            f"{type(exc).__name__}: {exc}")
        if state["round"] not in files.mask_files():
            problems.append(f"{where}: committed round {state['round']} has no mask file")
    try:
        result = load_result(job_id, store=store)
    except Exception as exc:                                       # noqa: BLE001
        return problems + [f"{where}: load_result fails: {type(exc).__name__}: {exc}"]
    problems += table_differences(result.rounds, ref.rounds, ["repeat", "round"], VOLATILE_ROUND,
                                  f"{where}: rounds", prefix=True)
    problems += table_differences(result.epochs, ref.epochs, ["repeat", "round", "epoch"], VOLATILE_EPOCH,
                                  f"{where}: epochs", prefix=True)
    return problems


def kill_offset(rng: random.Random, ref: Reference, store: JobStore, job_id: str, kills_left: int) -> int:
    """How many events after the current count the next kill waits for: 1 (right after the new
    worker's ``run_started``) up to the reference's events left divided among the kills left, so
    the kills spread over the run (the resume itself included) rather than crowd its start."""
    committed = store.run_dir(job_id).repeat(0).committed()
    rounds = [i for i, e in enumerate(ref.events) if e["type"] == "round"]
    if committed is None:
        ahead, overhead = len(ref.events) - 1, 1                    # all but run_started; no resumed
    else:
        at = next((i for i in rounds if ref.events[i]["round"] == committed["round"]), len(ref.events) - 1)
        ahead, overhead = len(ref.events) - at - 1, 2               # run_started, resumed
    span = max(1, round(ahead / max(kills_left, 1)))
    return 1 + rng.randint(0, overhead - 1 + span)


def crash_and_resume(method: str, root: pathlib.Path, ref: Reference, seed: int) -> Outcome:
    """Kill, check, requeue until ``KILLS_PER_METHOD`` kills interrupted the job, then let it
    finish and compare it with the reference. A job that finished before enough kills landed (a
    kill can land after its end) is checked, and a new job of the same config takes the rest."""
    out = Outcome(method)
    begin = time.monotonic()
    rng = random.Random(f"crash-resume/{seed}/{method}")
    cache, log = root / method.replace("+", "_"), root / f"{method.replace('+', '_')}.log"
    config = Config.from_dict(METHODS[method])
    store = JobStore(cache)
    try:
        while len(out.kills) < KILLS_PER_METHOD and out.starts < MAX_WORKER_STARTS:
            job_id = store.create_job(config.to_dict(), config.hash(), status="queued", origin="test")["id"]
            out.jobs += 1
            if run_one_job(store, job_id, cache, log, ref, rng, out):
                check_final(store, job_id, ref, out)
    finally:
        store.close()
        out.seconds = time.monotonic() - begin
    return out


def run_one_job(store: JobStore, job_id: str, cache: pathlib.Path, log: pathlib.Path, ref: Reference,
                rng: random.Random, out: Outcome) -> bool:
    """Start workers on the queued job, killing each at a random instant until enough kills
    interrupted it, then once more to its end; whether it finished.

    To save the seconds of torch's import, the next worker is started as soon as the killed one
    is gone: it imports while the checks run and only finds the job once it is requeued."""
    label = f"job {out.jobs}, " if out.jobs > 1 else ""
    proc = start_worker(cache, log, idle_exit=WORKER_IDLE_EXIT)
    out.starts += 1
    try:
        while True:
            kill = len(out.kills) < KILLS_PER_METHOD and out.starts < MAX_WORKER_STARTS - 1
            count = store.event_count(job_id)
            k, delay = count + kill_offset(rng, ref, store, job_id, KILLS_PER_METHOD - len(out.kills)), \
                rng.uniform(*KILL_DELAY)
            where = f"{label}worker start {out.starts}"
            killed, first_event, status, polls = False, None, None, 0
            started = time.monotonic()
            deadline = started + RUN_DEADLINE
            while proc.poll() is None and time.monotonic() < deadline:
                now = store.event_count(job_id)
                if first_event is None and now > count:
                    first_event = time.monotonic() - started
                if kill and now >= k:
                    break
                polls += 1
                if polls % 5 == 0 and store.get_job(job_id)["status"] in DONE:
                    break
                time.sleep(0.02)
            if kill and proc.poll() is None and time.monotonic() < deadline \
                    and store.get_job(job_id)["status"] not in DONE:
                time.sleep(delay)
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed = True
            if time.monotonic() >= deadline:
                out.problems.append(f"{where}: no end and no kill point within {RUN_DEADLINE:.0f} s "
                                    f"(events {store.event_count(job_id)})\n{tail(log)}")
                stop(proc)
            if not killed:
                status = store.get_job(job_id)["status"]
                if status in DONE:
                    stop(proc)                  # an idle worker: the job's record is final
            proc.wait(timeout=30)
            # Where did it land? Wait for liveness to call a dead worker's job interrupted.
            t0 = time.monotonic()
            status = store.get_job(job_id)["status"]
            if status != "finished" and out.starts < MAX_WORKER_STARTS:
                proc = start_worker(cache, log, idle_exit=WORKER_IDLE_EXIT)   # imports meanwhile
                out.starts += 1
            elif status != "finished":
                out.problems.append(f"{label}the job did not finish within {MAX_WORKER_STARTS} worker starts "
                                    f"(status {status})")
                return False
            while status == "running" and time.monotonic() - t0 < LIVENESS_DEADLINE:
                time.sleep(0.1)
                status = store.get_job(job_id)["status"]
            waited = time.monotonic() - t0
            if status == "finished":
                out.late += killed
                return True
            if status == "running":
                out.problems.append(f"{where}: the job is stuck as running {LIVENESS_DEADLINE:.0f} s after its "
                                    "worker died")
            elif status in ("failed", "cancelled"):
                out.problems.append(f"{where}{' (killed)' if killed else ''}: the job {status}: "
                                    f"{store.get_job(job_id).get('error')}")
            elif status != "interrupted":
                out.problems.append(f"{where}: unexpected status {status!r}")
            if killed:
                events = store.events(job_id)
                committed = store.run_dir(job_id).repeat(0).committed()
                out.kills.append(Kill(k, delay, events[-1]["type"] if events else "-",
                                      None if committed is None else committed["round"],
                                      waited if status == "interrupted" else None, first_event))
                out.problems += [f"{label}{p}" for p in check_after_kill(store, job_id, ref, len(out.kills))]
            elif status not in DONE:
                out.problems.append(f"{where}: the worker exited by itself with the job {status}\n{tail(log)}")
            store.requeue(job_id)
    finally:
        stop(proc)


def check_final(store: JobStore, job_id: str, ref: Reference, out: Outcome) -> None:
    record = store.get_job(job_id)
    if record["status"] != "finished":
        out.problems.append(f"final status {record['status']!r} ({record.get('error')})")
        return
    result = load_result(job_id, store=store)
    events = store.events(job_id)
    dup = duplicated_stream_keys(events)
    if dup:
        out.problems.append(f"final: duplicated round/epoch events that count: {dup[:6]}")
    out.problems += table_differences(result.rounds, ref.rounds, ["repeat", "round"], VOLATILE_ROUND, "final rounds")
    out.problems += table_differences(result.epochs, ref.epochs, ["repeat", "round", "epoch"], VOLATILE_EPOCH,
                                      "final epochs")
    masks = read_masks(store, job_id)
    if masks.keys() != ref.masks.keys():
        out.problems.append(f"final: mask rounds {sorted(masks)} != reference {sorted(ref.masks)}")
    for r in sorted(masks.keys() & ref.masks.keys()):
        a, b = masks[r], ref.masks[r]
        if a.keys() != b.keys() or not all(np.array_equal(a[n], b[n]) for n in a):
            diff = {n: int((a[n] != b[n]).sum()) for n in a if n in b and a[n].shape == b[n].shape}
            out.problems.append(f"final: the masks of round {r} differ from the reference: {diff}")
    progress = record["progress"] or {}
    if progress.get("epochs_done") != progress.get("epochs_total") or \
            progress.get("epochs_total") != ref.progress.get("epochs_total"):
        out.problems.append(f"final progress {progress.get('epochs_done')}/{progress.get('epochs_total')} "
                            f"(reference {ref.progress.get('epochs_done')}/{ref.progress.get('epochs_total')})")
    root = store.run_dir(job_id).root
    stray = temporary_files(root)
    if stray:
        out.problems.append(f"final: temporary files left in the run folder: {stray}")
    files = run_files(root)
    if files != ref.files:
        out.problems.append(f"final: run folder files differ: only here {sorted(files - ref.files)}, "
                            f"only in the reference {sorted(ref.files - files)}")
    for kind in ("asni_summary",):
        mine = [e for e in committed_events(events) if e["type"] == kind]
        theirs = [e for e in ref.events if e["type"] == kind]
        if theirs:
            strip = lambda e: {k: v for k, v in e.items() if k not in VOLATILE_EVENT | {"job"}}  # noqa: E731
            if not mine or not same_value(strip(mine[-1]), strip(theirs[-1])):
                out.problems.append(f"final: the last {kind} event differs from the reference: "
                                    f"{mine[-1] if mine else None} vs {theirs[-1]}")
            if len(mine) != len(theirs):
                out.problems.append(f"final: {len(mine)} {kind} events (the reference has {len(theirs)})")


# ---- the test --------------------------------------------------------------------------------

@pytest.mark.slow
def test_sigkill_at_random_instants_resumes_to_the_uninterrupted_run(tmp_path):
    seed = int(os.environ.get("CRASH_RESUME_SEED", "0"))
    parallel = max(1, int(os.environ.get("CRASH_RESUME_PARALLEL", "2")))
    begin = time.monotonic()
    refs = run_references(tmp_path)
    ref_seconds = time.monotonic() - begin
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        futures = {m: pool.submit(crash_and_resume, m, tmp_path, refs[m], seed) for m in METHODS}
        outcomes = [futures[m].result() for m in METHODS]

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [f"\ncrash/resume (seed {seed}, {parallel} at once): references {ref_seconds:.1f} s, "
             f"total {time.monotonic() - begin:.1f} s; CPU: this process {own.ru_utime + own.ru_stime:.0f} s, "
             f"workers {children.ru_utime + children.ru_stime:.0f} s; load {os.getloadavg()[0]:.1f}"]
    for o in outcomes:
        where = "; ".join(f"k={k.k}+{k.delay * 1000:.0f}ms after {k.last_event}, commit {k.committed}, "
                          f"start {k.seconds_to_first_event or 0:.1f}s, liveness {k.seconds_to_interrupted or 0:.1f}s"
                          for k in o.kills)
        lines.append(f"  {o.method:7s} {len(o.kills)} kills interrupted a running job, {o.late} landed after "
                     f"it finished, {o.jobs} job(s), {o.starts} worker starts, {o.seconds:.1f} s; {where}")
    total = sum(len(o.kills) for o in outcomes)
    lines.append(f"  total: {total} kills")
    problems = [f"{o.method}: {p}" for o in outcomes for p in o.problems]
    lines += [f"  PROBLEM {p}" for p in problems]
    print("\n".join(lines))

    assert not problems, "\n".join(problems)
    assert total >= 20, f"only {total} kills interrupted a running job"
    assert all(len(o.kills) >= 4 for o in outcomes), [(o.method, len(o.kills)) for o in outcomes]
