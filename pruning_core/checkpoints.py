"""Per-round artifacts of one repeat: masks, weights and the resume point.

Folder ``runs/<job>/repeat_<i>/``::

    masks/round_000.npz   bit-packed masks after each round (0 = dense)
    weights/init.pt       θ₀, the initialisation (for reinitialisation treatments)
    weights/rewind.pt     θ_k, the state at the rewind epoch k (weight rewinding)
    weights/round_000.pt  the trained dense network
    weights/latest.pt     the trained weights of the last finished round
    state.json            {"round": r, "cumulative_epochs": c}: written last, it is the commit
                          point of a round; a resumed run continues at round r + 1

Weights are whole ``state_dict``s (batch-norm statistics included); every file is written to a
temporary name and renamed, so a crash never leaves a half-written artifact.
"""

from __future__ import annotations

import json
import pathlib

import torch

from .masks import Masks, load_masks, save_masks


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's full state (parameters and buffers), on its device."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Checkpoint:
    """Reads and writes the artifacts of one repeat of a run."""

    def __init__(self, folder: str | pathlib.Path):
        self.folder = pathlib.Path(folder)

    def mask_file(self, round_index: int) -> pathlib.Path:
        return self.folder / "masks" / f"round_{round_index:03d}.npz"

    def save_masks(self, round_index: int, masks: Masks) -> pathlib.Path:
        path = self.mask_file(round_index)
        save_masks(masks, path)
        return path

    def load_masks(self, round_index: int, device: str | torch.device = "cpu") -> Masks:
        return load_masks(self.mask_file(round_index), device)

    def save_weights(self, name: str, state: dict[str, torch.Tensor]) -> None:
        path = self.folder / "weights" / f"{name}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({k: v.detach().cpu() for k, v in state.items()}, tmp)
        tmp.replace(path)

    def load_weights(self, name: str, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        return torch.load(self.folder / "weights" / f"{name}.pt", map_location=device, weights_only=True)

    def commit_round(self, round_index: int, cumulative_epochs: int) -> None:
        """Mark round r as finished (after its masks, weights and events are written)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / "state.json.tmp"
        tmp.write_text(json.dumps({"round": round_index, "cumulative_epochs": cumulative_epochs}))
        tmp.replace(self.folder / "state.json")

    def last_round(self) -> dict | None:
        """{"round", "cumulative_epochs"} of the last finished round, or None if none finished."""
        path = self.folder / "state.json"
        return json.loads(path.read_text()) if path.exists() else None
