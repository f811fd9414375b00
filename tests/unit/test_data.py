"""Unit tests for pruning_core.data (no network; Fashion-MNIST tests skip if absent)."""
from __future__ import annotations

import gzip
import pathlib
import struct
import urllib.error

import pytest
import torch

from pruning_core import data
from pruning_core.data import (
    DATASETS,
    DatasetNotAvailable,
    DatasetSpec,
    DeviceDataset,
    available_offline,
    default_data_dir,
    load_dataset,
    read_idx,
)

DEBIAN_FMNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def no_system_dirs(monkeypatch):
    """Hide Debian's system-wide Fashion-MNIST copy."""
    monkeypatch.setattr(data, "SYSTEM_DIRS", {})


@pytest.fixture
def no_download(monkeypatch):
    """Make every torchvision download fail as if the network were down."""
    import torchvision.datasets as tvd

    def fail(self):
        raise urllib.error.URLError("network is unreachable (test)")

    for cls in (tvd.MNIST, tvd.FashionMNIST, tvd.CIFAR10, tvd.CIFAR100):
        monkeypatch.setattr(cls, "download", fail)


def _spec(channels=1, mean=(0.0,), std=(1.0,), size=(4, 4)):
    return DatasetSpec("tiny", "synthetic", channels, 10, size, mean, std, False, 0, 0)


# ----------------------------------------------------------------------------- registry
def test_registry_keys_and_specs():
    assert list(DATASETS) == ["digits", "mnist", "fashion_mnist", "cifar10", "cifar100"]
    for name, spec in DATASETS.items():
        assert spec.name == name
        assert len(spec.mean) == len(spec.std) == spec.in_channels
    assert DATASETS["cifar10"].augment and DATASETS["cifar100"].augment
    assert not DATASETS["mnist"].augment and not DATASETS["digits"].augment
    assert DATASETS["cifar100"].num_classes == 100
    assert DATASETS["fashion_mnist"].mean == (0.2860,)


def test_unknown_name_lists_allowed():
    with pytest.raises(ValueError) as err:
        load_dataset("imagenet")
    msg = str(err.value)
    assert msg.startswith("dataset.name: unknown dataset 'imagenet'; allowed: ")
    for name in DATASETS:
        assert name in msg


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PRUNELAB_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("PRUNELAB_DATA")
    repo = pathlib.Path(data.__file__).resolve().parent.parent
    assert default_data_dir() == repo / "cache" / "data"


# ----------------------------------------------------------------------------- digits
def test_digits_shapes_labels_and_split():
    ds = load_dataset("digits")
    assert ds.source == "scikit-learn" and ds.device == torch.device("cpu")
    assert ds.n_train == 1437 and ds.n_test == 360
    assert ds.train_x.shape == (1437, 1, 8, 8) and ds.test_x.shape == (360, 1, 8, 8)
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    assert 0.0 <= ds.train_x.min() and ds.train_x.max() <= 1.0
    assert set(ds.train_y.tolist()) == set(range(10)) == set(ds.test_y.tolist())

    tr, te = data._digits_split()
    assert len(tr) == 1437 and len(te) == 360
    assert sorted(tr.tolist() + te.tolist()) == list(range(1797))  # disjoint, complete
    tr2, te2 = data._digits_split()
    assert torch.equal(tr, tr2) and torch.equal(te, te2)  # deterministic
    again = load_dataset("digits")
    assert torch.equal(again.train_x, ds.train_x) and torch.equal(again.test_y, ds.test_y)

    from sklearn.datasets import load_digits
    bunch = load_digits()
    i = int(te[5])
    assert torch.equal(ds.test_x[5, 0], torch.tensor(bunch.images[i] / 16.0, dtype=torch.float32))
    assert int(ds.test_y[5]) == int(bunch.target[i])


def test_digits_stats_match_spec():
    x = load_dataset("digits").train_x
    spec = DATASETS["digits"]
    assert abs(x.mean().item() - spec.mean[0]) < 1e-4
    assert abs(x.std(unbiased=False).item() - spec.std[0]) < 1e-4


def test_train_batches_sizes_and_coverage():
    ds = load_dataset("digits")
    sizes = [len(y) for _, y in ds.train_batches(500, torch.Generator().manual_seed(1))]
    assert sizes == [500, 500, 437]
    # Replace labels by sample ids to check every index appears exactly once.
    ids = DeviceDataset(ds.spec, ds.train_x, torch.arange(1437), ds.test_x, ds.test_y)
    seen = torch.cat([y for _, y in ids.train_batches(500, torch.Generator().manual_seed(1))])
    assert sorted(seen.tolist()) == list(range(1437))
    for x, y in ds.train_batches(500, torch.Generator().manual_seed(1)):
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 8, 8) and y.dtype == torch.int64


def test_train_batches_order_depends_on_seed_only():
    ds = load_dataset("digits")
    ids = DeviceDataset(ds.spec, ds.train_x, torch.arange(1437), ds.test_x, ds.test_y)

    def order(seed):
        return torch.cat([y for _, y in ids.train_batches(500, torch.Generator().manual_seed(seed))])

    assert torch.equal(order(3), order(3))
    assert not torch.equal(order(3), order(4))
    assert torch.equal(order(3), torch.randperm(1437, generator=torch.Generator().manual_seed(3)))
    g = torch.Generator().manual_seed(3)  # consecutive epochs from one generator differ
    e1 = torch.cat([y for _, y in ids.train_batches(500, g)])
    e2 = torch.cat([y for _, y in ids.train_batches(500, g)])
    assert not torch.equal(e1, e2)


def test_normalisation_known_entries():
    ds = load_dataset("digits")
    m, s = DATASETS["digits"].mean[0], DATASETS["digits"].std[0]
    x, y = next(ds.test_batches(7))
    assert torch.allclose(x, (ds.test_x[:7] - m) / s)
    assert torch.equal(y, ds.test_y[:7])
    # a raw-0 pixel of the first test image maps to -mean/std
    raw = ds.test_x[0, 0]
    zero = (raw == 0).nonzero()[0].tolist()
    assert x[0, 0, zero[0], zero[1]].item() == pytest.approx(-m / s, abs=1e-6)

    # uint8 path: (v/255 - mean)/std with hand-computed values
    img = torch.tensor([[[[0, 51], [255, 102]]]], dtype=torch.uint8)
    tiny = DeviceDataset(_spec(mean=(0.5,), std=(0.25,), size=(2, 2)), img, torch.tensor([0]),
                         img, torch.tensor([0]))
    (xt, _), = list(tiny.test_batches(4))
    expected = torch.tensor([[[[-2.0, -1.2], [2.0, -0.4]]]])
    assert torch.allclose(xt, expected, atol=1e-6)
    xb, _ = tiny.sample_train_batch(1, torch.Generator().manual_seed(0))
    assert torch.allclose(xb, expected, atol=1e-6)


def test_test_batches_in_order():
    ds = load_dataset("digits")
    batches = list(ds.test_batches(100))
    assert [len(y) for _, y in batches] == [100, 100, 100, 60]
    assert torch.equal(torch.cat([y for _, y in batches]), ds.test_y)


def test_sample_train_batch():
    ds = load_dataset("digits", augment=True)  # augmentation must not apply here
    ids = DeviceDataset(ds.spec, ds.train_x, torch.arange(1437), ds.test_x, ds.test_y, augment=True)
    x, y = ids.sample_train_batch(64, torch.Generator().manual_seed(0))
    assert x.shape == (64, 1, 8, 8) and len(set(y.tolist())) == 64
    assert torch.allclose(x, ids.normalise(ds.train_x[y]))
    x2, y2 = ids.sample_train_batch(64, torch.Generator().manual_seed(0))
    assert torch.equal(y, y2) and torch.equal(x, x2)


# ----------------------------------------------------------------------------- augmentation
def _reference_augment(img: list[list[float]], top: int, left: int, flip: bool) -> torch.Tensor:
    """Hand-built pad-4 crop (then optional flip) of a single 2-d image, pure Python."""
    h, w = len(img), len(img[0])
    padded = [[0.0] * (w + 8) for _ in range(h + 8)]
    for i in range(h):
        for j in range(w):
            padded[i + 4][j + 4] = img[i][j]
    crop = [[padded[top + i][left + j] for j in range(w)] for i in range(h)]
    if flip:
        crop = [row[::-1] for row in crop]
    return torch.tensor(crop)


def test_augmentation_exact_reference():
    n = 40
    base = torch.arange(1, 17, dtype=torch.float32).view(4, 4)  # distinct, non-zero values
    train_x = torch.stack([base + 100 * k for k in range(n)]).unsqueeze(1)  # image k <-> id k
    ds = DeviceDataset(_spec(), train_x, torch.arange(n), train_x, torch.arange(n), augment=True)
    assert ds.augment

    seed, bs = 123, 16
    out = list(ds.train_batches(bs, torch.Generator().manual_seed(seed)))
    # Replay the documented draw order: permutation, then per batch offsets then flips.
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    offsets_seen, flips_seen = set(), set()
    for b, (x, y) in enumerate(out):
        idx = perm[b * bs:(b + 1) * bs]
        assert torch.equal(y, idx)
        offsets = torch.randint(0, 9, (len(idx), 2), generator=g)
        flips = torch.rand(len(idx), generator=g) < 0.5
        for r in range(len(idx)):
            img = train_x[int(idx[r]), 0].tolist()
            top, left, flip = int(offsets[r, 0]), int(offsets[r, 1]), bool(flips[r])
            ref = _reference_augment(img, top, left, flip)
            assert torch.equal(x[r, 0], ref), (b, r, top, left, flip)
            offsets_seen.add((top, left))
            flips_seen.add(flip)
    assert flips_seen == {True, False} and len(offsets_seen) > 10


def test_augmentation_is_shifted_flipped_copy():
    """Independent of draw order: each output is one of the 9*9*2 shifted/flipped copies."""
    base = torch.arange(1, 17, dtype=torch.uint8).view(1, 1, 4, 4)
    train_x = base.repeat(50, 1, 1, 1)
    ds = DeviceDataset(_spec(), train_x, torch.zeros(50, dtype=torch.long), train_x[:1],
                       torch.zeros(1, dtype=torch.long), augment=True)
    img = (base[0, 0].float() / 255).tolist()
    candidates = [_reference_augment(img, t, l, f) for t in range(9) for l in range(9)
                  for f in (False, True)]
    for x, _ in ds.train_batches(16, torch.Generator().manual_seed(7)):
        for r in range(len(x)):
            assert any(torch.allclose(x[r, 0], c) for c in candidates)
    # no augmentation -> identity
    plain = DeviceDataset(_spec(), train_x, torch.zeros(50, dtype=torch.long), train_x[:1],
                          torch.zeros(1, dtype=torch.long))
    for x, _ in plain.train_batches(16, torch.Generator().manual_seed(7)):
        assert torch.allclose(x, base.float() / 255)


def test_augmentation_multichannel_same_shift_per_image():
    base = torch.arange(1, 49, dtype=torch.float32).view(3, 4, 4)
    train_x = base.repeat(30, 1, 1, 1)
    spec = _spec(channels=3, mean=(0.0,) * 3, std=(1.0,) * 3)
    ds = DeviceDataset(spec, train_x, torch.zeros(30), train_x[:1], torch.zeros(1), augment=True)
    for x, _ in ds.train_batches(30, torch.Generator().manual_seed(0)):
        for r in range(len(x)):
            matches = [(t, l, f) for t in range(9) for l in range(9) for f in (False, True)
                       if all(torch.equal(x[r, c], _reference_augment(base[c].tolist(), t, l, f))
                              for c in range(3))]
            assert matches


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    ds_cpu = load_dataset("digits", augment=True)
    ds_gpu = load_dataset("digits", device="cuda", augment=True)
    a = list(ds_cpu.train_batches(256, torch.Generator().manual_seed(5)))
    b = list(ds_gpu.train_batches(256, torch.Generator().manual_seed(5)))
    for (xa, ya), (xb, yb) in zip(a, b):
        assert xb.device.type == "cuda"
        assert torch.equal(ya, yb.cpu()) and torch.allclose(xa, xb.cpu(), atol=1e-6)


# ----------------------------------------------------------------------------- IDX files
def _idx_bytes(dtype_code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, dtype_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def test_read_idx_gzip_and_raw(tmp_path):
    images = tmp_path / "imgs-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(_idx_bytes(0x08, (2, 3, 4), bytes(range(24)))))
    head = gzip.decompress(images.read_bytes())[:4]
    assert struct.unpack(">I", head)[0] == 2051
    x = read_idx(images)
    assert x.dtype == torch.uint8 and x.shape == (2, 3, 4)
    assert x[1, 2, 3].item() == 23 and x[0, 1, 0].item() == 4

    labels = tmp_path / "labels-idx1-ubyte"
    labels.write_bytes(_idx_bytes(0x08, (3,), bytes([7, 0, 9])))
    assert struct.unpack(">I", labels.read_bytes()[:4])[0] == 2049
    assert read_idx(labels).tolist() == [7, 0, 9]

    ints = tmp_path / "ints-idx"
    ints.write_bytes(_idx_bytes(0x0C, (2,), struct.pack(">2i", 1, -258)))
    assert read_idx(ints).tolist() == [1, -258]

    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError):
        read_idx(bad)
    truncated = tmp_path / "short"
    truncated.write_bytes(_idx_bytes(0x08, (10,), bytes(3)))
    with pytest.raises(ValueError):
        read_idx(truncated)


def _write_fake_mnist(folder: pathlib.Path, n_train=5, n_test=3, gz=True):
    folder.mkdir(parents=True)
    parts = {
        "train-images-idx3-ubyte": _idx_bytes(8, (n_train, 28, 28), bytes(n_train * 784)),
        "train-labels-idx1-ubyte": _idx_bytes(8, (n_train,), bytes(range(n_train))),
        "t10k-images-idx3-ubyte": _idx_bytes(8, (n_test, 28, 28), bytes([255]) * (n_test * 784)),
        "t10k-labels-idx1-ubyte": _idx_bytes(8, (n_test,), bytes(range(n_test))),
    }
    for stem, payload in parts.items():
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / stem).write_bytes(payload)


def test_mnist_from_torchvision_layout(tmp_path, no_system_dirs, no_download):
    _write_fake_mnist(tmp_path / "MNIST" / "raw")
    ds = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert ds.train_x.shape == (5, 1, 28, 28) and ds.test_x.shape == (3, 1, 28, 28)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.tolist() == [0, 1, 2, 3, 4]
    assert ds.source == str(tmp_path / "MNIST" / "raw")
    x, _ = next(ds.test_batches(3))
    assert torch.allclose(x, torch.full_like(x, (1.0 - 0.1307) / 0.3081))
    assert "mnist" in available_offline(tmp_path) and "fashion_mnist" not in available_offline(tmp_path)


def test_fashion_mnist_plain_layout_raw_files(tmp_path, no_system_dirs):
    _write_fake_mnist(tmp_path / "fashion_mnist", n_train=4, n_test=2, gz=False)
    ds = load_dataset("fashion_mnist", data_dir=tmp_path, download=False)
    assert ds.n_train == 4 and ds.n_test == 2


def test_missing_dataset_without_download(tmp_path, no_system_dirs, no_download):
    assert available_offline(tmp_path) == ["digits"]
    with pytest.raises(DatasetNotAvailable) as err:
        load_dataset("fashion_mnist", data_dir=tmp_path, download=False)
    msg = str(err.value)
    assert "fashion_mnist" in msg and "digits" in msg and str(tmp_path) in msg
    assert "download=False" in msg and "apt-get install dataset-fashion-mnist" in msg
    with pytest.raises(DatasetNotAvailable, match="digits"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


def test_failed_download_becomes_dataset_not_available(tmp_path, no_system_dirs, no_download):
    for name in ("mnist", "cifar100"):
        with pytest.raises(DatasetNotAvailable) as err:
            load_dataset(name, data_dir=tmp_path, download=True)
        msg = str(err.value)
        assert "download failed" in msg and "network is unreachable" in msg and "digits" in msg


# ----------------------------------------------------------------------------- Debian Fashion-MNIST
def test_fashion_mnist_from_debian(tmp_path):
    if not all((DEBIAN_FMNIST / f"{s}.gz").is_file() for s in data._IDX_FILES):
        pytest.skip(f"Debian Fashion-MNIST not installed at {DEBIAN_FMNIST} "
                    "(apt-get install dataset-fashion-mnist)")
    assert "fashion_mnist" in available_offline(tmp_path)
    ds = load_dataset("fashion_mnist", data_dir=tmp_path, download=False)
    assert ds.source == str(DEBIAN_FMNIST)
    assert ds.n_train == 60000 and ds.n_test == 10000
    assert ds.train_x.dtype == torch.uint8 and ds.train_x.shape == (60000, 1, 28, 28)
    assert ds.test_x.shape == (10000, 1, 28, 28)
    assert ds.train_y.min() == 0 and ds.train_y.max() == 9
    assert abs(ds.train_x.float().mean().item() / 255 - DATASETS["fashion_mnist"].mean[0]) < 1e-3
    assert load_dataset("fashion_mnist", data_dir=tmp_path, download=False).train_x.data_ptr() \
        == ds.train_x.data_ptr()  # cached per process
