"""The one place that knows where a run's artifacts live, and that writes them atomically.

Layout of a job's run folder ``<cache>/runs/<job>/`` (OpenLTH's ``paths.py`` idea)::

    repeat_<i>/masks/round_000.npz     bit-packed masks after each round (0 = dense), numpy-readable
    repeat_<i>/weights/init.pt         θ₀, the initialisation
    repeat_<i>/weights/rewind.pt       θ_k, the state after k dense epochs (weight rewinding)
    repeat_<i>/weights/round_000.pt    the trained dense network (always kept)
    repeat_<i>/weights/round_<r>.pt    the trained weights of round r (the last committed one kept)
    repeat_<i>/optimizer_<r>.pt        optimizer state after round r, for a run that keeps one
                                       optimizer across rounds
    repeat_<i>/state.json              the commit point: {"round", "weights", "cumulative_epochs",
                                       "pruner", "memo"}, written last
    tensorboard/repeat_<i>/            TensorBoard event files, only when asked for (``run
                                       --tensorboard``, ``export --tensorboard``; pruning_core.tensorboard)

**Crash consistency.** Every file is written under a hidden temporary name (``.name.pid.tmp``)
and renamed into place, so readers — which list only ``round_<digits>.npz`` — never see a
partial file. A round's files carry its number, so writing round r never overwrites what the
committed round r−1 needs: until ``state.json`` names round r, a resumed run continues from the
files of round r−1, exactly as if round r had never started (:meth:`RepeatDir.discard_uncommitted`
removes its leftovers). Only after the commit are the superseded round files deleted.

Every reader raises a :class:`~pruning_core.errors.CorruptArtifact` naming the job and the file
when a file is unreadable — never a library's advice (torch's ``weights_only=False`` must never
be followed for a corrupt file). Folders are 0700 and files 0600: private to their owner. This
module imports torch only inside the weight methods: the app reads masks and paths through it.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from typing import Any, Callable

from .errors import CorruptArtifact
from .maskfile import load_masks_numpy, write_masks_numpy

TENSORBOARD_DIR = "tensorboard"          # the default TensorBoard folder inside a job's run folder
_ROUND_FILE = re.compile(r"round_(\d+)\.(npz|pt)")
_OPTIMIZER_FILE = re.compile(r"optimizer_(\d+)\.pt")


def atomic_write(path: pathlib.Path, write: Callable[[Any], None], mode: str = "wb") -> pathlib.Path:
    """Write ``path`` (0600) through ``write(file)`` into a hidden temporary file, then rename it
    into place."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), mode) as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def is_temporary(path: pathlib.Path) -> bool:
    """A partial file a killed writer left: ``.name.pid.tmp``, or an older ``*.tmp*`` name."""
    return path.name.startswith(".") and path.name.endswith(".tmp") or ".tmp" in path.suffixes


class RepeatDir:
    """The artifacts of one repeat of a run."""

    def __init__(self, folder: str | pathlib.Path):
        self.folder = pathlib.Path(folder)

    def _unreadable(self, path: pathlib.Path, exc: BaseException | str) -> CorruptArtifact:
        """The error for an unreadable file: the job, the file, what is wrong, in words."""
        job = self.folder.parent.name
        reason = exc if isinstance(exc, str) else f"{type(exc).__name__}, the file is truncated or corrupt"
        return CorruptArtifact(f"job {job}: {path} is unreadable ({reason}); resume the job to recompute "
                               "what it holds, or delete the job")

    # ---- masks -------------------------------------------------------------------------------

    def mask_file(self, round_index: int) -> pathlib.Path:
        return self.folder / "masks" / f"round_{round_index:03d}.npz"

    def mask_files(self) -> dict[int, pathlib.Path]:
        """{round: mask file} of the rounds finished so far, ascending (whole files only)."""
        return dict(sorted(_numbered(self.folder / "masks", _ROUND_FILE, "npz").items()))

    def save_masks(self, round_index: int, masks: dict) -> pathlib.Path:
        """Write masks (torch or numpy bools) bit-packed."""
        arrays = {n: m.detach().cpu().numpy() if hasattr(m, "detach") else m for n, m in masks.items()}
        return atomic_write(self.mask_file(round_index), lambda f: write_masks_numpy(arrays, f))

    def load_masks(self, round_index: int) -> dict:
        """{layer: numpy bool array} of one round (CorruptArtifact naming the file if unreadable)."""
        return load_masks_numpy(self.mask_file(round_index))

    # ---- weights -----------------------------------------------------------------------------

    def weights_file(self, name: str) -> pathlib.Path:
        return self.folder / "weights" / f"{name}.pt"

    @staticmethod
    def round_weights(round_index: int) -> str:
        """The name of round r's trained weights (``round_<r>``)."""
        return f"round_{round_index:03d}"

    def save_weights(self, name: str, state: dict) -> pathlib.Path:
        """Write a state dict (on the CPU) as ``weights/<name>.pt``."""
        import torch
        cpu = {k: v.detach().cpu() for k, v in state.items()}
        return atomic_write(self.weights_file(name), lambda f: torch.save(cpu, f))

    def load_weights(self, name: str, device="cpu") -> dict:
        """A saved state dict, tensors only (``weights_only=True``); CorruptArtifact if unreadable."""
        import torch
        path = self.weights_file(name)
        if not path.is_file():
            raise self._unreadable(path, "the file is missing")
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except Exception as exc:
            raise self._unreadable(path, exc) from None
        if not isinstance(state, dict):
            raise self._unreadable(path, f"it holds a {type(state).__name__}, not a state dict")
        return state

    def has_weights(self, name: str) -> bool:
        return self.weights_file(name).exists()

    def last_weights(self) -> str:
        """The name of the last committed round's weights (``latest`` in runs made before the
        round-numbered layout)."""
        state = self.committed()
        return (state or {}).get("weights", "latest")

    # ---- optimizer ---------------------------------------------------------------------------

    def optimizer_file(self, round_index: int) -> pathlib.Path:
        return self.folder / f"optimizer_{round_index:03d}.pt"

    def save_optimizer(self, round_index: int, state: dict) -> None:
        import torch
        atomic_write(self.optimizer_file(round_index), lambda f: torch.save(state, f))

    def load_optimizer(self, round_index: int, device="cpu") -> dict | None:
        """The optimizer state saved with round ``round_index``, or None if there is none for it."""
        import torch
        path = self.optimizer_file(round_index)
        if not path.exists():
            return None
        try:
            return torch.load(path, map_location=device, weights_only=True)
        except Exception as exc:
            raise self._unreadable(path, exc) from None

    # ---- the commit point --------------------------------------------------------------------

    @property
    def state_file(self) -> pathlib.Path:
        return self.folder / "state.json"

    def commit(self, state: dict) -> None:
        """Make round ``state["round"]`` the resume point (after its masks, weights, optimizer and
        events are written), then delete the round files it supersedes."""
        atomic_write(self.state_file, lambda f: f.write(json.dumps(state)), mode="w")
        keep = state["round"]
        for r, path in _numbered(self.folder / "weights", _ROUND_FILE, "pt").items():
            if r not in (0, keep):
                path.unlink(missing_ok=True)
        for r, path in _numbered(self.folder, _OPTIMIZER_FILE).items():
            if r != keep:
                path.unlink(missing_ok=True)

    def committed(self) -> dict | None:
        """The state of the last finished round, or None if none finished."""
        if not self.state_file.exists():
            return None
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError) as exc:
            raise self._unreadable(self.state_file, exc) from None
        if not isinstance(state, dict) or not isinstance(state.get("round"), int):
            raise self._unreadable(self.state_file, "it names no committed round")
        return state

    def discard_uncommitted(self) -> None:
        """Remove what a killed run wrote after its last commit: partial (temporary) files, and
        the masks, weights and optimizer state of rounds after the committed one. A resumed run
        recomputes them exactly (each round's randomness is seeded by (seed, r))."""
        state = self.committed()
        done = -1 if state is None else state["round"]
        for path in _files(self.folder):
            if is_temporary(path):
                path.unlink(missing_ok=True)
        for folder, pattern, suffix in ((self.folder / "masks", _ROUND_FILE, "npz"),
                                        (self.folder / "weights", _ROUND_FILE, "pt"),
                                        (self.folder, _OPTIMIZER_FILE, None)):
            for r, path in _numbered(folder, pattern, suffix).items():
                if r > done:
                    path.unlink(missing_ok=True)


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

    def discard_uncommitted(self) -> None:
        """:meth:`RepeatDir.discard_uncommitted` for every repeat."""
        for i in self.repeats():
            self.repeat(i).discard_uncommitted()

    def mkdir(self) -> "RunDir":
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def _files(folder: pathlib.Path) -> list[pathlib.Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


def _numbered(folder: pathlib.Path, pattern: re.Pattern, suffix: str | None = None) -> dict[int, pathlib.Path]:
    """{number: path} of the files in ``folder`` whose whole name matches ``pattern``."""
    if not folder.is_dir():
        return {}
    out = {}
    for path in folder.iterdir():
        match = pattern.fullmatch(path.name)
        if match and (suffix is None or match.group(2) == suffix):
            out[int(match.group(1))] = path
    return out
