"""Stress figures for the job system (issue 8's closing note): many submits at once, one long job.

What it measures
    (a) **Simultaneous submits.** ``--submits`` (20) submitters call ``ui.launcher.submit(config,
        cache_dir=DIR)`` at the same instant (threads behind a barrier, or with ``--processes``
        separate Python processes released at the same wall-clock instant) with a tiny digits
        config (LeNet-300-100, 1 round, 1 epoch, k = 0). The script waits until no job is queued
        or running, then reports: every job finished and ran exactly once (one ``run_started``
        event per repeat, no ``resumed``), none stuck or unreadable, how many distinct worker
        pids ran jobs (``record["worker_pid"]``; one is expected: one worker per store), how many
        worker processes the launcher started, and the wall time from the submits to the end.
    (b) **A long job.** One job of ``--rounds`` (200) rounds of 1 epoch at rate ``--rate`` (0.02:
        1 − 0.98^200 ≈ 98 % sparsity at the end) on the same tiny model, submitted through the
        launcher and run by its worker. A thread samples the worker's resident memory
        (``/proc/<pid>/status`` VmRSS) every 0.5 s; the table shows it at the start (first sample
        once the job runs), the middle and the end, and the peak (flat is expected). Meanwhile
        the Monitor page (``pages/2_Monitor.py`` under ``streamlit.testing``'s AppTest, with
        ``?job=<id>`` and ``$PRUNELAB_CACHE`` pointing at the store, as ``tests/app`` does) is
        rendered every ``--render-every`` seconds: *reopen* is a fresh AppTest (a browser opening
        the page: the whole event stream is read), *rerun* reruns one AppTest kept open (the
        live page: only new events are read). Both are rendered again ``--final-renders`` times
        after the job finished. Median and max seconds are reported.

How to run
    .venv/bin/python benchmarks/jobs_stress.py                      # both parts, temporary store
    .venv/bin/python benchmarks/jobs_stress.py --part a --processes # submits from 20 processes
    .venv/bin/python benchmarks/jobs_stress.py --cache /tmp/stress --rounds 100

Workers get ``OMP_NUM_THREADS`` from the environment (the launcher's default otherwise: all cores
but one). The launcher's worker idle exit is shortened to ``--idle-exit`` seconds so the workers
leave when done; any worker the script started that still runs at the end is stopped by its pid.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pruning_core.config import Config              # noqa: E402  (torch-free, like the app)
from pruning_core.jobs.store import JobStore        # noqa: E402
from ui import launcher                             # noqa: E402

ACTIVE = ("queued", "running")


def tiny_config(rounds: int, rate: float) -> Config:
    """LeNet-300-100 on digits, 1 epoch per round (T = 1, so k = 0)."""
    return Config.from_dict({"training": {"epochs": 1},
                             "algorithm": {"name": "imp", "rounds": rounds, "rate": rate, "rewind_epoch": 0}})


def rss_kib(pid: int) -> int | None:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def wait_idle(store: JobStore, ids: list[str], timeout: float) -> tuple[bool, dict[str, str]]:
    """Wait until none of ``ids`` is queued or running; (done in time, {job: status})."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = {j: store.get_job(j)["status"] for j in ids}
        if not any(s in ACTIVE for s in statuses.values()):
            return True, statuses
        if time.monotonic() > deadline:
            return False, statuses
        time.sleep(0.25)


def stop_workers(root: pathlib.Path) -> list[int]:
    """Stop the workers this process started for ``root`` that still run (by pid)."""
    stopped = []
    for root_, proc in list(launcher._started):
        if root_ == root and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            stopped.append(proc.pid)
    return stopped


# ---- (a) simultaneous submits ------------------------------------------------------------------

SUBMIT_SCRIPT = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from pruning_core.config import Config
from ui import launcher
launcher.WORKER_IDLE_EXIT_SECONDS = float(sys.argv[4])
config = Config.from_dict({"training": {"epochs": 1},
                           "algorithm": {"name": "imp", "rounds": int(sys.argv[5]), "rate": 0.2, "rewind_epoch": 0}})
print("ready", flush=True)
sys.stdin.readline()                    # the go signal: every process has imported by then
job = launcher.submit(config, cache_dir=sys.argv[2], origin="api")
print(job, launcher.ensure_worker(sys.argv[2]), flush=True)
time.sleep(float(sys.argv[4]) + 30)     # keep the reaper thread alive while the worker may run
"""


def part_a(root: pathlib.Path, n: int, rounds: int, processes: bool, timeout: float, idle_exit: float) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    config = tiny_config(rounds, 0.2)
    ids: list[str] = []
    errors: list[str] = []
    submit_children: list[subprocess.Popen] = []
    t0 = time.perf_counter()
    if processes:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        for _ in range(n):
            submit_children.append(subprocess.Popen(
                [sys.executable, "-c", SUBMIT_SCRIPT, str(REPO), str(root), "-", str(idle_exit), str(rounds)],
                cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True))
        for child in submit_children:           # every process has imported the launcher ...
            if child.stdout.readline().strip() != "ready":
                errors.append(f"a submitting process did not start: {child.stderr.read()[-500:]}")
        t0 = time.perf_counter()
        for child in submit_children:           # ... then all are released at once
            child.stdin.write("go\n")
            child.stdin.flush()
        for child in submit_children:           # (job id, worker pid), without waiting for an exit
            line = child.stdout.readline().split()
            if line:
                ids.append(line[0])
            else:
                errors.append(f"a submitting process printed nothing: {child.stderr.read()[-500:]}")
    else:
        barrier = threading.Barrier(n)
        lock = threading.Lock()

        def submit() -> None:
            barrier.wait()
            try:
                job = launcher.submit(config, cache_dir=root, origin="api")
                with lock:
                    ids.append(job)
            except Exception as exc:                  # noqa: BLE001  (reported)
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=submit) for _ in range(n)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    submitted = time.perf_counter() - t0
    with JobStore(root) as store:
        done, statuses = wait_idle(store, ids, timeout)
        wall = time.perf_counter() - t0
        listed = store.list_jobs()
        unreadable = [j["id"] for j in listed if j["status"] == "unreadable"]
        pids, started_counts, resumed = set(), {}, {}
        for job in ids:
            record = store.get_job(job)
            if record.get("worker_pid"):
                pids.add(record["worker_pid"])
            events = store.events(job)
            started_counts[job] = sum(e["type"] == "run_started" for e in events)
            resumed[job] = sum(e["type"] == "resumed" for e in events)
    for child in submit_children:
        child.kill()
        child.wait()
    stopped = stop_workers(root)
    try:                                     # a worker that found the lock taken says so and exits
        log = (root / "store" / "worker.log").read_text(errors="replace")
        lost = log.count("a worker is already running")
    except OSError:
        lost = None
    repeats = config.repeats
    return {
        "submits": n, "mode": "processes" if processes else "threads", "job ids": len(ids),
        "distinct job ids": len(set(ids)), "errors": errors,
        "all finished": done and all(s == "finished" for s in statuses.values()),
        "statuses": sorted(set(statuses.values())),
        "stuck": [j for j, s in statuses.items() if s in ACTIVE],
        "ran exactly once": all(c == repeats for c in started_counts.values()) and not any(resumed.values()),
        "run_started per job": sorted(set(started_counts.values())),
        "unreadable": unreadable, "distinct worker pids": len(pids),
        "worker processes started (this process)": len([p for r, p in launcher._started if r == root]),
        "workers that found the lock taken": lost,
        "submit seconds": submitted, "wall seconds": wall, "stopped leftover workers": stopped,
    }


# ---- (b) one long job --------------------------------------------------------------------------

class RssSampler(threading.Thread):
    """Every ``every`` seconds: (seconds, worker VmRSS KiB, epochs done by the job's record)."""

    def __init__(self, pid: int, root: pathlib.Path, job: str, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.root, self.job, self.every = pid, root, job, every
        self.samples: list[tuple[float, int, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        with JobStore(self.root) as store:                 # its own connection, not the main thread's
            while not self.stop.is_set():
                kib = rss_kib(self.pid)
                if kib is None:
                    return
                done = (store.get_job(self.job).get("progress") or {}).get("epochs_done") or 0
                self.samples.append((time.monotonic() - t0, kib, done))
                self.stop.wait(self.every)


def timed_render(at) -> float:
    """Seconds of one run of the Monitor page (an exception on the page stops the benchmark)."""
    t = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(f"the Monitor page raised: {[e.value for e in at.exception]}")
    if [t.value for t in at.title] != ["Monitor"]:
        raise RuntimeError(f"not on the Monitor page: titles {[t.value for t in at.title]}")
    return seconds


def part_b(root: pathlib.Path, rounds: int, rate: float, render_every: float, final_renders: int,
           timeout: float, idle_exit: float) -> dict:
    from streamlit.testing.v1 import AppTest

    root.mkdir(parents=True, exist_ok=True)
    os.environ["PRUNELAB_CACHE"] = str(root)
    def app(job_id: str):
        """The app with ?job=<id>, switched to the Monitor page (pages need the app's navigation,
        as in tests/app); the next ``run()`` renders the Monitor."""
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
        at.query_params["job"] = job_id
        return at.switch_page("pages/2_Monitor.py")

    config = tiny_config(rounds, rate)
    t0 = time.perf_counter()
    job = launcher.submit(config, cache_dir=root, origin="api")
    store = JobStore(root)
    try:
        return _long_job(store, root, job, app, t0, render_every, final_renders, timeout, rounds, rate)
    finally:
        store.close()
        stop_workers(root)


def _long_job(store: JobStore, root: pathlib.Path, job: str, app, t0: float, render_every: float,
              final_renders: int, timeout: float, rounds: int, rate: float) -> dict:
    # wait for the worker to claim the job and start it
    while store.get_job(job)["status"] == "queued" and time.perf_counter() - t0 < 120:
        time.sleep(0.1)
    pid = store.get_job(job).get("worker_pid") or launcher.worker_running(root)
    sampler = RssSampler(pid, root, job)
    sampler.start()
    rounds_at_start_sample = None
    open_page = app(job)
    reopen, rerun, during_rounds = [], [], []
    last_render = 0.0
    while store.get_job(job)["status"] in ACTIVE and time.perf_counter() - t0 < timeout:
        if rounds_at_start_sample is None and sampler.samples:
            rounds_at_start_sample = sum(e["type"] == "round" for e in store.events(job))
        if time.perf_counter() - last_render >= render_every:
            done = sum(e["type"] == "round" for e in store.events(job))
            reopen.append(timed_render(app(job)))
            rerun.append(timed_render(open_page))
            during_rounds.append(done)
            last_render = time.perf_counter()
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    record = store.get_job(job)
    events = store.events(job)
    n_rounds = sum(e["type"] == "round" for e in events)
    final_reopen = [timed_render(app(job)) for _ in range(final_renders)]
    final_rerun = [timed_render(open_page) for _ in range(final_renders)]
    stopped = stop_workers(root)
    samples = [kib for _, kib, _ in sampler.samples]
    # RSS at the first sample (the job just claimed: torch imported), then at a quarter, half,
    # three quarters of the rounds (the record's epochs_done, one per round) and at the end
    total = rounds + 1
    points = []
    for label, fraction in (("start", None), ("25%", 0.25), ("50%", 0.5), ("75%", 0.75), ("end", None)):
        if not sampler.samples:
            break
        if label == "start":
            t, kib, done = sampler.samples[0]
        elif label == "end":
            t, kib, done = sampler.samples[-1]
        else:
            t, kib, done = next((x for x in sampler.samples if x[2] >= fraction * total), sampler.samples[-1])
        points.append((label, kib / 1024, done))
    mid = samples[len(samples) // 2] if samples else None
    return {
        "rss points": points,
        "rounds": rounds, "rate": rate, "status": record["status"], "round events": n_rounds,
        "progress": f"{record['progress'].get('epochs_done')}/{record['progress'].get('epochs_total')}",
        "job wall seconds": wall, "worker pid": pid, "rss samples": len(samples),
        "rss start MiB": samples[0] / 1024 if samples else None, "rss middle MiB": mid / 1024 if mid else None,
        "rss end MiB": samples[-1] / 1024 if samples else None,
        "rss peak MiB": max(samples) / 1024 if samples else None,
        "rounds done at first rss sample": rounds_at_start_sample,
        "render rounds": during_rounds,
        "reopen during": reopen, "rerun during": rerun, "reopen final": final_reopen, "rerun final": final_rerun,
        "events": len(events), "stopped leftover workers": stopped,
    }


# ---- the report ------------------------------------------------------------------------------

def stats(values: list[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s (n={len(values)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=pathlib.Path, default=None,
                        help="store root (default: a new temporary folder); parts use <cache>/submits, <cache>/long")
    parser.add_argument("--part", choices=["a", "b", "both"], default="both")
    parser.add_argument("--submits", type=int, default=20)
    parser.add_argument("--submit-rounds", type=int, default=1, help="rounds of each submitted job (1 epoch each)")
    parser.add_argument("--processes", action="store_true", help="submit from separate processes, not threads")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.02)
    parser.add_argument("--render-every", type=float, default=3.0, help="seconds between Monitor renders")
    parser.add_argument("--final-renders", type=int, default=3)
    parser.add_argument("--idle-exit", type=float, default=3.0, help="the launcher's worker idle exit (seconds)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds each part may take")
    args = parser.parse_args(argv)

    launcher.WORKER_IDLE_EXIT_SECONDS = args.idle_exit
    root = args.cache or pathlib.Path(tempfile.mkdtemp(prefix="prunelab-stress-"))
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    print(f"command: {command}")
    print(f"store: {root}; cpus {os.cpu_count()}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    ok = True
    rows: list[tuple[str, str]] = []
    if args.part in ("a", "both"):
        a = part_a(root / "submits", args.submits, args.submit_rounds, args.processes, args.timeout, args.idle_exit)
        ok &= a["all finished"] and a["ran exactly once"] and not a["stuck"] and not a["errors"] \
            and a["distinct worker pids"] == 1 and a["distinct job ids"] == args.submits and not a["unreadable"]
        rows += [
            (f"(a) {a['submits']} simultaneous submits ({a['mode']})", ""),
            ("  jobs created / distinct ids", f"{a['job ids']} / {a['distinct job ids']}"),
            ("  submit errors", "; ".join(a["errors"]) or "none"),
            ("  all finished", f"{a['all finished']} (statuses {a['statuses']}, stuck {a['stuck'] or 'none'})"),
            ("  each ran exactly once", f"{a['ran exactly once']} (run_started per job {a['run_started per job']})"),
            ("  unreadable jobs", str(a["unreadable"] or "none")),
            ("  distinct worker pids that ran jobs", str(a["distinct worker pids"])),
            ("  worker processes the launcher started", str(a["worker processes started (this process)"])
             if a["mode"] == "threads" else "(in the submitting processes)"),
            ("  of them found the lock taken and left", str(a["workers that found the lock taken"])),
            ("  submit calls took", f"{a['submit seconds']:.2f} s"),
            ("  wall time, submits to all finished", f"{a['wall seconds']:.1f} s"),
        ]
        print("part a done", flush=True)
    if args.part in ("b", "both"):
        b = part_b(root / "long", args.rounds, args.rate, args.render_every, args.final_renders, args.timeout,
                   args.idle_exit)
        ok &= b["status"] == "finished"
        rows += [
            (f"(b) one job, {b['rounds']} rounds x 1 epoch, rate {b['rate']}", ""),
            ("  status / round events / progress", f"{b['status']} / {b['round events']} / {b['progress']}"),
            ("  job wall time (submit to end)", f"{b['job wall seconds']:.1f} s"),
            ("  worker RSS start / middle / end", f"{b['rss start MiB']:.0f} / {b['rss middle MiB']:.0f} / "
                                                  f"{b['rss end MiB']:.0f} MiB ({b['rss samples']} samples)"
             if b["rss samples"] else "no samples"),
            ("  worker RSS peak", f"{b['rss peak MiB']:.0f} MiB" if b["rss samples"] else "-"),
            ("  worker RSS by progress", ", ".join(f"{label} ({done} rounds done) {mib:.0f} MiB"
                                                  for label, mib, done in b["rss points"]) or "-"),
            ("  Monitor reopen, during the run", stats(b["reopen during"])),
            ("  Monitor rerun (page open), during", stats(b["rerun during"])),
            ("  rounds done at those renders", str(b["render rounds"])),
            ("  Monitor reopen, after the end", stats(b["reopen final"])),
            ("  Monitor rerun (page open), after", stats(b["rerun final"])),
        ]
    width = max(len(k) for k, _ in rows) + 2
    print()
    for key, value in rows:
        print(f"{key:<{width}}{value}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
