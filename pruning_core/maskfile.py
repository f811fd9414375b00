"""The on-disk mask format, with numpy alone (the app and the analyses read masks without torch).

One ``.npz`` per round: ``__index__`` holds JSON ``[{"name", "shape"}, ...]`` in layer order and
``m<i>`` the i-th layer's mask flattened and bit-packed with ``numpy.packbits`` (1 bit per weight).
Where the files go and how they are written atomically is :mod:`pruning_core.rundir`'s job.
"""

from __future__ import annotations

import json
import pathlib
from typing import BinaryIO

import numpy as np

from .errors import CorruptArtifact


def write_masks_numpy(masks: dict[str, np.ndarray], file: BinaryIO | str | pathlib.Path) -> None:
    """Write {name: bool array} bit-packed to an open binary file (or a path ending in .npz)."""
    arrays = {f"m{i}": np.packbits(np.asarray(m, dtype=bool).reshape(-1)) for i, m in enumerate(masks.values())}
    index = [{"name": name, "shape": list(np.shape(m))} for name, m in masks.items()]
    np.savez_compressed(file, __index__=np.frombuffer(json.dumps(index).encode(), dtype=np.uint8), **arrays)


def load_masks_numpy(path: str | pathlib.Path) -> dict[str, np.ndarray]:
    """Read a mask file as {name: bool array}, in layer order; a
    :class:`~pruning_core.errors.CorruptArtifact` naming the file if it is missing or unreadable."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise CorruptArtifact(f"{path} is missing: the masks of that round cannot be read")
    try:
        with np.load(path) as data:
            index = json.loads(data["__index__"].tobytes().decode())
            out = {}
            for i, entry in enumerate(index):
                n = int(np.prod(entry["shape"]))
                out[entry["name"]] = np.unpackbits(data[f"m{i}"], count=n).astype(bool).reshape(entry["shape"])
            return out
    except Exception as exc:             # zipfile, numpy and json each fail in their own way
        raise CorruptArtifact(f"{path} is not a readable mask file ({type(exc).__name__}: the file is truncated "
                              "or corrupt); resume the job to recompute it, or delete the job") from None
