"""Dataset registry with device-resident tensors.

Design (the project's speed rule): a whole dataset is decoded once into CPU
tensors, moved to the training device in one piece and kept there as
``DeviceDataset.train_x / train_y / test_x / test_y``.  Images stay in their
compact storage dtype (uint8 N x C x H x W for MNIST / Fashion-MNIST / CIFAR;
float32 in [0, 1] for the tiny sklearn ``digits`` set).  An epoch is a random
permutation drawn from a CPU ``torch.Generator`` (so CPU and GPU runs see the
same order), and each batch is an index slice of that permutation.
Augmentation (pad-4 random crop + horizontal flip) and normalisation run
batched on the device; there is no DataLoader and no per-sample Python.

Decoded CPU tensors are cached per process (``functools.lru_cache`` keyed by
dataset name and resolved path); treat the returned tensors as read-only.
"""
from __future__ import annotations

import functools
import gzip
import pathlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .datadirs import default_data_dir


@dataclass(frozen=True)
class DatasetSpec:
    """Static description of a dataset (shapes, classes, per-channel statistics)."""

    name: str
    description: str
    in_channels: int
    num_classes: int
    input_size: tuple[int, int]
    mean: tuple[float, ...]  # per channel, in [0, 1] pixel units
    std: tuple[float, ...]
    augment: bool  # default: pad-4 random crop + horizontal flip
    n_train: int
    n_test: int


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        "digits", "scikit-learn 8x8 handwritten digits (always available offline)",
        1, 10, (8, 8),
        # Computed once from the fixed 1437-sample training split of values/16
        # (pixel mean and population std over all training pixels), rounded.
        (0.3049,), (0.3758,),
        False, 1437, 360),
    "mnist": DatasetSpec(
        "mnist", "MNIST handwritten digits, 28x28 grayscale",
        1, 10, (28, 28), (0.1307,), (0.3081,), False, 60000, 10000),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist", "Fashion-MNIST clothing images, 28x28 grayscale",
        1, 10, (28, 28), (0.2860,), (0.3530,), False, 60000, 10000),
    "cifar10": DatasetSpec(
        "cifar10", "CIFAR-10 natural images, 32x32 RGB, 10 classes",
        3, 10, (32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
        True, 50000, 10000),
    "cifar100": DatasetSpec(
        "cifar100", "CIFAR-100 natural images, 32x32 RGB, 100 classes",
        3, 100, (32, 32), (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
        True, 50000, 10000),
}

# System-wide copies (Debian's dataset-fashion-mnist package); tests monkeypatch this.
SYSTEM_DIRS: dict[str, tuple[pathlib.Path, ...]] = {
    "fashion_mnist": (pathlib.Path("/usr/share/datasets/fashion-mnist"),),
}
_IDX_LAYOUT = {"mnist": ("MNIST", "mnist"), "fashion_mnist": ("FashionMNIST", "fashion_mnist")}
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR = {  # name -> (torchvision class name, extracted folder, files that must exist)
    "cifar10": ("CIFAR10", "cifar-10-batches-py",
                tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)),
    "cifar100": ("CIFAR100", "cifar-100-python", ("train", "test")),
}
PAD = 4  # random-crop padding in pixels


class DatasetNotAvailable(RuntimeError):
    """The dataset's files are not present and could not be downloaded."""


def _resolve_dir(data_dir) -> pathlib.Path:
    return default_data_dir() if data_dir is None else pathlib.Path(data_dir).expanduser()


# ----------------------------------------------------------------------------- IDX files
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> Tensor:
    """Parse an IDX file (gzip-compressed or raw) into a tensor of its declared shape.

    Header: two zero bytes, a dtype code (0x08 = uint8, ...), the number of
    dimensions, then one big-endian uint32 per dimension (so the magic number
    is 2049 for 1-d uint8 label files and 2051 for 3-d uint8 image files).
    """
    path = pathlib.Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (magic {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    count = int(np.prod(shape)) if shape else 1
    offset = 4 + 4 * ndim
    if len(raw) - offset < count * dtype.itemsize:
        raise ValueError(f"{path}: truncated IDX file (expected shape {shape})")
    arr = np.frombuffer(raw, dtype, count=count, offset=offset).reshape(shape)
    return torch.from_numpy(arr.astype(dtype.newbyteorder("="), copy=True))


def _idx_search_dirs(name: str, data_dir: pathlib.Path) -> list[pathlib.Path]:
    tv_name, plain = _IDX_LAYOUT[name]
    return [data_dir / tv_name / "raw", data_dir / plain, *SYSTEM_DIRS.get(name, ())]


def _idx_file(directory: pathlib.Path, stem: str) -> pathlib.Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _find_idx_dir(name: str, data_dir: pathlib.Path) -> pathlib.Path | None:
    """First search directory holding all four IDX files of ``name``."""
    for d in _idx_search_dirs(name, data_dir):
        if all(_idx_file(d, stem) is not None for stem in _IDX_FILES):
            return d
    return None


@functools.lru_cache(maxsize=8)
def _load_idx_cpu(directory: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Decode the four IDX files in ``directory``: (train_x, train_y, test_x, test_y)."""
    d = pathlib.Path(directory)
    tx, ty, vx, vy = (read_idx(_idx_file(d, stem)) for stem in _IDX_FILES)
    return tx.unsqueeze(1).contiguous(), ty.long(), vx.unsqueeze(1).contiguous(), vy.long()


# ----------------------------------------------------------------------------- digits / CIFAR
def _digits_split() -> tuple[Tensor, Tensor]:
    """Fixed train/test split of the 1797 digits samples: 1437 / 360 indices (seed 0)."""
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    return perm[:1437], perm[1437:]


@functools.lru_cache(maxsize=1)
def _load_digits_cpu() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """sklearn digits as float32 (N,1,8,8) in [0,1] (= values/16), split by ``_digits_split``."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    tr, te = _digits_split()
    return x[tr].contiguous(), y[tr].contiguous(), x[te].contiguous(), y[te].contiguous()


def _cifar_present(name: str, data_dir: pathlib.Path) -> bool:
    _, folder, files = _CIFAR[name]
    return all((data_dir / folder / f).is_file() for f in files)


def _from_torchvision(name: str, data_dir: pathlib.Path, download: bool):
    """Instantiate the torchvision train and test datasets (may download)."""
    import torchvision.datasets as tvd

    cls_name = _CIFAR[name][0] if name in _CIFAR else _IDX_LAYOUT[name][0]
    cls = getattr(tvd, cls_name)
    return (cls(root=str(data_dir), train=True, download=download),
            cls(root=str(data_dir), train=False, download=download))


def _tv_tensors(ds) -> tuple[Tensor, Tensor]:
    """(images uint8 NCHW, labels int64) from a torchvision MNIST-like or CIFAR dataset."""
    data = ds.data
    if isinstance(data, np.ndarray):  # CIFAR: uint8 NHWC
        x = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
    else:  # MNIST: uint8 tensor NHW
        x = data.unsqueeze(1).contiguous()
    return x, torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)


@functools.lru_cache(maxsize=4)
def _load_cifar_cpu(name: str, data_dir: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    train, test = _from_torchvision(name, pathlib.Path(data_dir), download=False)
    return (*_tv_tensors(train), *_tv_tensors(test))


# ----------------------------------------------------------------------------- registry
def available_offline(data_dir=None) -> list[str]:
    """Names of the datasets whose files are present now (``digits`` always is)."""
    d = _resolve_dir(data_dir)
    out = []
    for name in DATASETS:
        if name == "digits":
            out.append(name)
        elif name in _IDX_LAYOUT and _find_idx_dir(name, d) is not None:
            out.append(name)
        elif name in _CIFAR and _cifar_present(name, d):
            out.append(name)
    return out


def _not_available(name: str, d: pathlib.Path, looked: list[pathlib.Path], why: str) -> DatasetNotAvailable:
    msg = (f"dataset '{name}' is not available: looked in "
           + ", ".join(str(p) for p in looked)
           + f"; {why}. Datasets available offline now: {', '.join(available_offline(d))}.")
    if name == "fashion_mnist":
        msg += " Hint: `apt-get install dataset-fashion-mnist` installs it offline-capable."
    return DatasetNotAvailable(msg)


def load_dataset(name: str, *, data_dir=None, device="cpu", download: bool = True,
                 augment: bool | None = None) -> DeviceDataset:
    """Load dataset ``name`` onto ``device`` as a :class:`DeviceDataset`.

    Local files are preferred; if they are missing and ``download`` is True the
    torchvision downloader fetches them into ``data_dir`` (default
    :func:`default_data_dir`).  ``augment=None`` uses the spec's default.
    Raises ``ValueError`` for an unknown name and :class:`DatasetNotAvailable`
    when the files are missing and cannot be obtained.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset.name: unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    d = _resolve_dir(data_dir)
    if name == "digits":
        return DeviceDataset(spec, *_load_digits_cpu(), device=device, augment=augment,
                             source="scikit-learn")

    if name in _IDX_LAYOUT:
        looked = _idx_search_dirs(name, d)
        found = _find_idx_dir(name, d)
        if found is not None:
            return DeviceDataset(spec, *_load_idx_cpu(str(found.resolve())), device=device,
                                 augment=augment, source=str(found))
        source = str(d / _IDX_LAYOUT[name][0] / "raw")
    else:
        looked = [d / _CIFAR[name][1]]
        if _cifar_present(name, d):
            return DeviceDataset(spec, *_load_cifar_cpu(name, str(d.resolve())), device=device,
                                 augment=augment, source=str(looked[0]))
        source = str(looked[0])

    if not download:
        raise _not_available(name, d, looked, "download disabled (download=False)")
    try:
        train, test = _from_torchvision(name, d, download=True)
        tensors = (*_tv_tensors(train), *_tv_tensors(test))
    except Exception as exc:  # network errors come in many types (URLError, RuntimeError, OSError)
        raise _not_available(name, d, looked,
                             f"download failed: {type(exc).__name__}: {exc}") from exc
    return DeviceDataset(spec, *tensors, device=device, augment=augment, source=source)


# ----------------------------------------------------------------------------- device dataset
class DeviceDataset:
    """A dataset held on one device as whole tensors, with batched augmentation."""

    def __init__(self, spec: DatasetSpec, train_x: Tensor, train_y: Tensor, test_x: Tensor,
                 test_y: Tensor, *, device="cpu", augment: bool | None = None, source: str = ""):
        """Move the four tensors to ``device``; ``augment=None`` means ``spec.augment``."""
        self.spec = spec
        self.device = torch.device(device)
        self.augment = spec.augment if augment is None else bool(augment)
        self.source = source
        self.train_x, self.train_y = train_x.to(self.device), train_y.to(self.device).long()
        self.test_x, self.test_y = test_x.to(self.device), test_y.to(self.device).long()
        shape = (1, len(spec.mean), 1, 1)
        self._mean = torch.tensor(spec.mean, dtype=torch.float32, device=self.device).view(shape)
        self._std = torch.tensor(spec.std, dtype=torch.float32, device=self.device).view(shape)
        self._normalised: dict[str, tuple[Tensor, Tensor]] = {}   # split -> (source tensor, normalised copy)

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(self.train_y.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return int(self.test_y.shape[0])

    def __repr__(self) -> str:
        return (f"DeviceDataset({self.spec.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
                f"device={self.device}, augment={self.augment}, source={self.source!r})")

    def normalise(self, x: Tensor) -> Tensor:
        """float32 ``(x/255 - mean)/std`` for uint8 images, ``(x - mean)/std`` for float images."""
        xf = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        return (xf - self._mean) / self._std

    #: Above this size (bytes of float32) a split is normalised per batch instead of once.
    NORMALISE_ONCE_BYTES = 2 << 30

    def normalised_split(self, split: str) -> Tensor | None:
        """The whole ``train``/``test`` images normalised once (float32, on the device), or None if
        that split is augmented (augmentation pads in pixel space before normalising) or larger
        than :attr:`NORMALISE_ONCE_BYTES`. The values are exactly ``normalise`` of each batch's
        images (the same elementwise operations), so slicing this copy gives bit-identical batches
        without the three elementwise passes per step. Rebuilt if ``train_x``/``test_x`` is
        replaced; treat it as read-only."""
        src = self.train_x if split == "train" else self.test_x
        if (split == "train" and self.augment) or src.numel() * 4 > self.NORMALISE_ONCE_BYTES:
            return None
        cached = self._normalised.get(split)
        if cached is None or cached[0] is not src:
            with torch.inference_mode(False):    # a normal tensor even if first asked for in eval
                cached = (src, self.normalise(src))
            self._normalised[split] = cached
        return cached[1]

    def _augment(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Pad-4 (zero, pixel space) random crop, then horizontal flip with p=0.5.

        Draws, in this order, from ``generator`` on the CPU:
        ``torch.randint(0, 2*PAD+1, (B, 2))`` -> (top, left) crop offsets in the
        padded image, then ``torch.rand(B) < 0.5`` -> flip flags.
        """
        b, c, h, w = x.shape
        offsets = torch.randint(0, 2 * PAD + 1, (b, 2), generator=generator).to(self.device)
        flips = (torch.rand(b, generator=generator) < 0.5).to(self.device)
        padded = F.pad(x, (PAD, PAD, PAD, PAD))
        rows = offsets[:, :1] + torch.arange(h, device=self.device)  # (B, H)
        cols = torch.arange(w, device=self.device).expand(b, w)
        cols = torch.where(flips[:, None], w - 1 - cols, cols) + offsets[:, 1:]  # (B, W)
        out = padded.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2 * PAD))
        return out.gather(3, cols[:, None, None, :].expand(b, c, h, w))

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        """One training epoch of (x float32 normalised, y int64) batches.

        The order is ``torch.randperm(n_train, generator=generator)`` (drawn on
        the CPU, then moved to the device); batches are consecutive slices and
        the last partial batch is kept.  With ``self.augment`` each batch is
        randomly cropped/flipped (see ``_augment``) before normalisation.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        perm = torch.randperm(self.n_train, generator=generator).to(self.device)
        ready = self.normalised_split("train")
        if ready is not None:                 # no augmentation: gather rows of the normalised copy
            train_y = self.train_y
            for start in range(0, self.n_train, batch_size):
                idx = perm[start:start + batch_size]
                yield ready.index_select(0, idx), train_y.index_select(0, idx)
            return
        for start in range(0, self.n_train, batch_size):
            idx = perm[start:start + batch_size]
            x = self.train_x[idx]
            if self.augment:
                x = self._augment(x, generator)
            yield self.normalise(x), self.train_y[idx]

    def test_batches(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """The test set in its stored order as normalised (x, y) batches, no augmentation."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        ready = self.normalised_split("test")
        for start in range(0, self.n_test, batch_size):
            x = ready[start:start + batch_size] if ready is not None else self.normalise(self.test_x[start:start + batch_size])
            yield x, self.test_y[start:start + batch_size]

    def sample_train_batch(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """One random training batch (without replacement, at most n_train), normalised, no augmentation."""
        idx = torch.randperm(self.n_train, generator=generator)[:batch_size].to(self.device)
        return self.normalise(self.train_x[idx]), self.train_y[idx]
