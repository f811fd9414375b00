"""Reaching Ray: import it (or say how to install it), check a cluster's address, initialise a
local instance or connect, with the runtime environment Prunelab's tasks need."""

from __future__ import annotations

import os
import pathlib
import socket
from typing import Any

from ..errors import PrunelabError

INSTALL_HINT = "the ray executor needs Ray: pip install -r requirements-ray.txt"
CONNECT_TIMEOUT_SECONDS = 10.0   # reaching a cluster's address


class RayExecutorError(PrunelabError):
    """Ray is missing, or the cluster at the given address cannot be reached."""


def import_ray():
    """The ``ray`` module, or a RayExecutorError saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RayExecutorError(f"{INSTALL_HINT} ({exc})") from None
    return ray


def ray_runtime_env(local: bool = True) -> dict:
    """The runtime environment Prunelab's tasks need: this ``pruning_core`` package shipped to
    every node (so the nodes run the driver's code), and for a local Ray the data folder of this
    process. Pass it to your own ``ray.init(runtime_env=...)``."""
    from ..datadirs import default_data_dir

    package = pathlib.Path(__file__).resolve().parents[1]
    env: dict[str, Any] = {"py_modules": [str(package)], "excludes": ["__pycache__", "*.pyc"]}
    data = os.environ.get("PRUNELAB_DATA") or (str(default_data_dir()) if local else None)
    if data:
        env["env_vars"] = {"PRUNELAB_DATA": data}
    return env


def check_reachable(address: str) -> None:
    """A RayExecutorError naming ``address`` unless something listens there (within
    :data:`CONNECT_TIMEOUT_SECONDS`); ``auto`` and ``local`` are Ray's to resolve."""
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return
    host = host.strip("[]") or "127.0.0.1"
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except OSError as exc:
        raise RayExecutorError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc} "
                               "(is `ray start --head` running there, and is the port open?)") from None


def connect(ray, address: str | None, slots: int | None) -> bool:
    """Initialise Ray unless it already is: a local instance (``slots`` CPUs) when ``address`` is
    None, else the cluster at ``address``. Return whether this call initialised it (and so must
    shut it down)."""
    if ray.is_initialized():
        return False
    if address is None:
        ray.init(num_cpus=slots, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 runtime_env=ray_runtime_env(local=True))
        return True
    check_reachable(address)
    try:
        ray.init(address=address, log_to_driver=False, ignore_reinit_error=True,
                 runtime_env=ray_runtime_env(local=False))
    except (ConnectionError, TimeoutError, OSError, RuntimeError, ValueError) as exc:
        raise RayExecutorError(f"cannot connect to the Ray cluster at {address}: {type(exc).__name__}: {exc}") \
            from None
    return True
