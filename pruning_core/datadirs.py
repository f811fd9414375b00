"""Where datasets may live (torch-free): the default data folder and the roots the app may use.

A job submitted through the app comes from whoever can reach the app, so its ``dataset.data_dir``
must lie inside an allowed root (:func:`check_app_data_dir`); otherwise a free-text field would
let them make the worker create folders anywhere. The CLI and notebooks are the user's own
hands and may name any folder.
"""

from __future__ import annotations

import os
import pathlib

from .config.fields import ConfigError, FieldError

SYSTEM_DATA_ROOTS = (pathlib.Path("/usr/share/datasets"),)


def default_data_dir() -> pathlib.Path:
    """Return ``$PRUNELAB_DATA`` if set, else ``<repo>/cache/data``."""
    env = os.environ.get("PRUNELAB_DATA")
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path(__file__).resolve().parent.parent / "cache" / "data"


def allowed_data_roots() -> list[pathlib.Path]:
    """The folders an app-submitted ``data_dir`` may be inside: the default data folder, Debian's
    dataset folder and every folder of ``$PRUNELAB_DATA_ROOTS`` (``os.pathsep``-separated)."""
    extra = [pathlib.Path(p).expanduser() for p in os.environ.get("PRUNELAB_DATA_ROOTS", "").split(os.pathsep) if p]
    return [default_data_dir(), *SYSTEM_DATA_ROOTS, *extra]


def check_app_data_dir(data_dir: str | None) -> None:
    """Refuse (ConfigError naming the field and the allowed roots) a ``data_dir`` outside every
    allowed root, after resolving ``~``, ``..`` and symbolic links."""
    if data_dir is None:
        return
    resolved = pathlib.Path(os.path.realpath(pathlib.Path(data_dir).expanduser()))
    roots = allowed_data_roots()
    for root in roots:
        if resolved == pathlib.Path(os.path.realpath(root)) or pathlib.Path(os.path.realpath(root)) in resolved.parents:
            return
    raise ConfigError([FieldError("dataset.data_dir", data_dir, f"null or a folder inside {', '.join(map(str, roots))} "
                                  "(the folders the app may use; add one to PRUNELAB_DATA_ROOTS to allow it)")])
