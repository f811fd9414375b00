"""Which device a run uses, and its name in words (torch)."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """'auto' → CUDA if available, else CPU; otherwise the named device (checked to exist)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    allowed = ", ".join(available_devices())
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: got {name!r} but CUDA is not available here; allowed: {allowed}")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device: got {name!r} but this machine has {torch.cuda.device_count()} CUDA device(s); "
                         f"allowed: {allowed}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device: got {name!r} but Apple's MPS is not available here; allowed: {allowed}")
    return device


def available_devices() -> list[str]:
    """The device names a config may use on this machine."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def device_label(device: torch.device) -> str:
    """Human name of the device, e.g. 'cuda:0 (NVIDIA H100 80GB HBM3)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({torch.get_num_threads()} threads)"
