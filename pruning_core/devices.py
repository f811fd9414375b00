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


def wants_channels_last(model: torch.nn.Module, device: torch.device) -> bool:
    """Whether training ``model`` on ``device`` should use the channels_last (NHWC) layout: on CUDA,
    for a model with 2-D convolutions (cuDNN's bf16 tensor-core kernels are NHWC; NCHW inputs and
    weights cost a transpose per convolution). CPU runs keep the default layout, so their results
    stay exactly as before."""
    return torch.device(device).type == "cuda" and any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def to_channels_last(model: torch.nn.Module) -> bool:
    """Convert every 4-D parameter and buffer of ``model`` to channels_last in place (parameter
    objects are kept, so optimizers, masks and state_dict loading keep working; values are
    unchanged). Returns True if anything changed."""
    changed = False
    with torch.inference_mode(False):      # called from evaluate() too: keep normal tensors
        for t in [*model.parameters(), *model.buffers()]:
            if t.dim() == 4 and not t.is_contiguous(memory_format=torch.channels_last):
                t.data = t.data.contiguous(memory_format=torch.channels_last)
                changed = True
    return changed


def device_label(device: torch.device) -> str:
    """Human name of the device, e.g. 'cuda:0 (NVIDIA H100 80GB HBM3)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({torch.get_num_threads()} threads)"


# Ops that make the host wait for the device: reading a value (``.item()``, ``float(t)``,
# ``bool(t)``, ``.tolist()`` all end in ``_local_scalar_dense``) and ops whose output size depends
# on the data (nonzero, masked_select, unique), which must read it back.
SYNCING_OPS = ("_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique", "_unique2",
               "unique_consecutive", "unique_dim", "is_nonzero", "equal")


class HostSyncCounter:
    """Counts the device→host reads of the ops in :data:`SYNCING_OPS`, on any device (a CPU
    stand-in for ``torch.cuda.set_sync_debug_mode``), while :attr:`active` is True.

    ``exempt()`` returns tensors whose reads do not count: the ones that stay on the CPU in a CUDA
    run too (the optimizer's 0-d ``step``/``mu_product`` state when not capturable). Use as a
    context manager (a ``TorchDispatchMode``); ``counts`` maps op name → number of calls, ``log``
    holds the first few offending call sites' shapes."""

    def __init__(self, exempt=lambda: ()):
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                name = func._schema.name.split("::")[-1]
                if counter.active and name in SYNCING_OPS:
                    first = args[0] if args else None
                    skip = {t.data_ptr() for t in counter.exempt() if isinstance(t, torch.Tensor)}
                    if not (isinstance(first, torch.Tensor) and first.data_ptr() in skip):
                        counter.counts[name] = counter.counts.get(name, 0) + 1
                        if len(counter.log) < 10:
                            counter.log.append((name, tuple(first.shape) if isinstance(first, torch.Tensor) else None))
                return func(*args, **(kwargs or {}))

        self._mode = _Mode()
        self.exempt = exempt
        self.active = False
        self.counts: dict[str, int] = {}
        self.log: list = []

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __enter__(self):
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self._mode.__exit__(*exc)


def cpu_resident_optimizer_state(optimizer) -> list[torch.Tensor]:
    """The optimizer's 0-d state tensors (``step``, NAdam's ``mu_product``): kept on the CPU by
    torch even in a CUDA run (unless capturable), so reading them never waits for the GPU."""
    return [v for state in optimizer.state.values() for v in state.values()
            if isinstance(v, torch.Tensor) and v.dim() == 0]
