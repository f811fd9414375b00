"""What runs on a Ray node for one job of a sweep (see :mod:`.ray_executor` for the whole design).

:func:`run_job_task` runs :func:`pruning_core.runner.run` in a private temporary cache and sends
every event, and the run-folder files that changed, back through a :class:`Channel` actor, with
``state.json`` after the files it names; :class:`FolderShipper` finds what changed.
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import socket
import tempfile
import threading

CANCEL_POLL_SECONDS = 0.5        # a task asks whether its job was cancelled, and ships new files, this often


def inside_folder(root: pathlib.Path, rel: str) -> pathlib.Path:
    """``root / rel``, refusing a path that leaves ``root``."""
    path = pathlib.PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"a shipped file name must stay inside the run folder: {rel!r}")
    return root.joinpath(*path.parts)


class Channel:
    """A Ray actor (one per :func:`execute_ray` call): tasks push their messages, the driver
    drains them; the driver marks jobs cancelled, tasks ask. Calls from one task run in order."""

    def __init__(self):
        self.messages: list[tuple[str, dict]] = []
        self.cancelled: set[str] = set()

    def push(self, job_id: str, message: dict) -> None:
        self.messages.append((job_id, message))

    def drain(self) -> list[tuple[str, dict]]:
        out, self.messages = self.messages, []
        return out

    def cancel(self, job_id: str) -> None:
        self.cancelled.add(job_id)

    def is_cancelled(self, job_id: str) -> bool:
        return job_id in self.cancelled


# ---- the remote side ----------------------------------------------------------------------------

def is_shippable(rel: pathlib.PurePath) -> bool:
    """A run-folder file worth shipping: not a partial (temporary) file of a writer."""
    from ..rundir import is_temporary

    return not is_temporary(pathlib.Path(rel.name))


class FolderShipper:
    """What changed in a run folder since the last call: files (new or rewritten, ``state.json``
    files last) and the files deleted."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.seen = self._scan()

    def _scan(self) -> dict[str, tuple]:
        out = {}
        if not self.root.is_dir():
            return out
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root)
            if not is_shippable(rel):
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if path.is_file():
                out[rel.as_posix()] = (st.st_ino, st.st_mtime_ns, st.st_size)
        return out

    def changes(self) -> dict:
        now = self._scan()
        changed = sorted((rel for rel, sig in now.items() if self.seen.get(rel) != sig),
                         key=lambda rel: (rel.endswith("state.json"), rel))
        files = []
        for rel in changed:
            try:
                files.append((rel, (self.root / rel).read_bytes()))
            except FileNotFoundError:
                now.pop(rel)
        removed = sorted(rel for rel in self.seen if rel not in now)
        self.seen = now
        return {"files": files, "removed": removed}


def run_job_task(job: dict, channel, files: list, plugins: list, threads: int) -> dict:
    """The Ray task of one job: run it in a private temporary cache, stream its events and files
    to ``channel``, return how it ended (status, error, traceback, progress, device)."""
    import ray
    import torch

    from ..jobs.store import JobStore
    from ..registry import unload_plugin
    from ..rundir import atomic_write
    from ..runner import run

    torch.set_num_threads(max(1, threads))
    job_id = job["id"]
    cancel, done, lock = threading.Event(), threading.Event(), threading.Lock()

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="prunelab-ray-"))
    plugin_paths: list[str] = []
    try:
        for i, (name, data) in enumerate(plugins):
            if data is None:                          # missing on the driver: fails as it would there
                plugin_paths.append(name)
                continue
            path = tmp / "plugins" / f"{i:02d}" / name      # its own file name, as the driver loaded it
            atomic_write(path, lambda f, d=data: f.write(d))
            plugin_paths.append(str(path))
        with JobStore(tmp / "cache") as store:
            local_id = store.create_job(job["config"], job["config_hash"], status="queued", origin=job["origin"],
                                        plugins=plugin_paths)["id"]
            run_dir = store.run_dir(local_id).mkdir()
            for rel, data in files:                   # a resumed job's run folder, state.json last
                atomic_write(inside_folder(run_dir.root, rel), lambda f, d=data: f.write(d))
            shipper = FolderShipper(run_dir.root)

            def send(event: dict | None) -> None:
                record = store.get_job(local_id)
                with lock:
                    ray.get(channel.push.remote(job_id, {"event": event, **shipper.changes(),
                                                         "progress": record.get("progress"),
                                                         "device": record.get("device")}))

            def watch() -> None:
                """Every CANCEL_POLL_SECONDS: ask whether the job was cancelled, and ship what the run
                wrote since the last event (a round's commit lands right after its event)."""
                while not done.wait(CANCEL_POLL_SECONDS):
                    try:
                        if not cancel.is_set() and ray.get(channel.is_cancelled.remote(job_id)):
                            cancel.set()
                        with lock:
                            changes = shipper.changes()
                            if changes["files"] or changes["removed"]:
                                ray.get(channel.push.remote(job_id, {"event": None, **changes}))
                    except Exception:                 # the driver is gone: nobody records what this job does
                        cancel.set()
                        return

            ray.get(channel.push.remote(job_id, {"started": True, "host": socket.gethostname()}))
            watcher = threading.Thread(target=watch, daemon=True, name="prunelab-ray-watch")
            watcher.start()
            crash = None
            try:
                run(job["config"], send, cache_dir=store.root, job_id=local_id, cancel=cancel,
                    resume=bool(job.get("resume")), origin=job["origin"], share_dense=False)
            except Exception as exc:                  # run() recorded it in the record (status failed)
                crash = f"{type(exc).__name__}: {exc}"
            finally:
                done.set()
                watcher.join()
            send(None)                                # whatever changed after the last event
            record = store.get_job(local_id)
            if record["status"] not in ("finished", "failed", "cancelled"):   # run() could not record the end
                record["status"], record["error"] = "failed", record.get("error") or crash or "the run ended early"
            return {key: record.get(key) for key in ("status", "error", "traceback", "progress", "device")}
    finally:
        for path in plugin_paths:
            with contextlib.suppress(Exception):
                unload_plugin(path)
        shutil.rmtree(tmp, ignore_errors=True)


# ---- the driver side ----------------------------------------------------------------------------
