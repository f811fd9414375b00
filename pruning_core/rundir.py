"""The one place that knows where a run's artifacts live, and that writes them atomically.

Layout of a job's run folder ``<cache>/runs/<job>/`` (OpenLTH's ``paths.py`` idea)::

    repeat_<i>/masks/round_000.npz   bit-packed masks after each round (0 = dense), numpy-readable
    repeat_<i>/weights/init.pt       θ₀, the initialisation
    repeat_<i>/weights/rewind.pt     θ_k, the state after k dense epochs (weight rewinding)
    repeat_<i>/weights/round_000.pt  the trained dense network
    repeat_<i>/weights/latest.pt     the trained weights of the last finished round
    repeat_<i>/optimizer.pt          optimizer state of a run that keeps one optimizer across rounds
    repeat_<i>/state.json            the commit point: {"round", "cumulative_epochs", "pruner", "memo"},
                                     written last; a resumed run continues after "round"

Every file is written under a hidden temporary name in the same folder and renamed into place, so
readers (which list ``round_*.npz`` and never see the temporary names) and a resumed run only
ever see whole files. This module imports torch only inside the weight methods: the app reads
masks and paths through it.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Callable

from .maskfile import load_masks_numpy, write_masks_numpy


def atomic_write(path: pathlib.Path, write: Callable[[Any], None], mode: str = "wb") -> pathlib.Path:
    """Write ``path`` through ``write(file)`` into a hidden temporary file, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class RepeatDir:
    """The artifacts of one repeat of a run."""

    def __init__(self, folder: str | pathlib.Path):
        self.folder = pathlib.Path(folder)

    # ---- masks -------------------------------------------------------------------------------

    def mask_file(self, round_index: int) -> pathlib.Path:
        return self.folder / "masks" / f"round_{round_index:03d}.npz"

    def mask_files(self) -> dict[int, pathlib.Path]:
        """{round: mask file} of the rounds finished so far, ascending."""
        files = {}
        for path in (self.folder / "masks").glob("round_*.npz"):
            stem = path.name[len("round_"):-len(".npz")]
            if stem.isdigit():
                files[int(stem)] = path
        return dict(sorted(files.items()))

    def save_masks(self, round_index: int, masks: dict) -> pathlib.Path:
        """Write masks (torch or numpy bools) bit-packed."""
        arrays = {n: m.detach().cpu().numpy() if hasattr(m, "detach") else m for n, m in masks.items()}
        return atomic_write(self.mask_file(round_index), lambda f: write_masks_numpy(arrays, f))

    def load_masks(self, round_index: int) -> dict:
        """{layer: numpy bool array} of one round."""
        return load_masks_numpy(self.mask_file(round_index))

    # ---- weights -----------------------------------------------------------------------------

    def weights_file(self, name: str) -> pathlib.Path:
        return self.folder / "weights" / f"{name}.pt"

    def save_weights(self, name: str, state: dict) -> pathlib.Path:
        """Write a state dict (on the CPU) as ``weights/<name>.pt``."""
        import torch
        cpu = {k: v.detach().cpu() for k, v in state.items()}
        return atomic_write(self.weights_file(name), lambda f: torch.save(cpu, f))

    def load_weights(self, name: str, device="cpu") -> dict:
        import torch
        return torch.load(self.weights_file(name), map_location=device, weights_only=True)

    def has_weights(self, name: str) -> bool:
        return self.weights_file(name).exists()

    # ---- optimizer ---------------------------------------------------------------------------

    @property
    def optimizer_file(self) -> pathlib.Path:
        return self.folder / "optimizer.pt"

    def save_optimizer(self, round_index: int, state: dict) -> None:
        import torch
        atomic_write(self.optimizer_file, lambda f: torch.save({"round": round_index, "state": state}, f))

    def load_optimizer(self, round_index: int, device="cpu") -> dict | None:
        """The optimizer state saved with round ``round_index``, or None if there is none for it."""
        import torch
        if not self.optimizer_file.exists():
            return None
        saved = torch.load(self.optimizer_file, map_location=device, weights_only=True)
        return saved["state"] if saved.get("round") == round_index else None

    def drop_optimizer(self) -> None:
        self.optimizer_file.unlink(missing_ok=True)

    # ---- the commit point --------------------------------------------------------------------

    @property
    def state_file(self) -> pathlib.Path:
        return self.folder / "state.json"

    def commit(self, state: dict) -> None:
        """Mark a round as finished (after its masks, weights and events are written)."""
        atomic_write(self.state_file, lambda f: f.write(json.dumps(state)), mode="w")

    def committed(self) -> dict | None:
        """The state of the last finished round, or None if none finished."""
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else None


class RunDir:
    """A job's run folder: one :class:`RepeatDir` per repeat."""

    def __init__(self, root: str | pathlib.Path):
        self.root = pathlib.Path(root)

    def repeat(self, index: int) -> RepeatDir:
        return RepeatDir(self.root / f"repeat_{index}")

    def repeats(self) -> list[int]:
        """The repeats that have a folder, ascending."""
        found = [p.name[len("repeat_"):] for p in self.root.glob("repeat_*") if p.is_dir()]
        return sorted(int(r) for r in found if r.isdigit())

    def mask_files(self) -> list[tuple[int, int, pathlib.Path]]:
        """(repeat, round, file) of every mask file, in order."""
        return [(i, r, path) for i in self.repeats() for r, path in self.repeat(i).mask_files().items()]

    def mkdir(self) -> "RunDir":
        self.root.mkdir(parents=True, exist_ok=True)
        return self
