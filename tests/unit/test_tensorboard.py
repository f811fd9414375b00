"""TensorBoard logs (pruning_core.tensorboard): written from a job's events, read back with
TensorBoard's own EventAccumulator, and equal to the job's rounds and epochs tables."""

from __future__ import annotations

import io
import pathlib

import numpy as np
import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

import pruning_core as pc  # noqa: E402
from pruning_core.__main__ import main  # noqa: E402
from pruning_core.rundir import TENSORBOARD_DIR  # noqa: E402
from pruning_core.tensorboard import (TensorBoardSink, export_job, mask_image, run_sink,  # noqa: E402
                                      write_events)

CONFIG = {"dataset": {"name": "digits"}, "algorithm": {"rounds": 2, "rewind_epoch": 1},
          "training": {"epochs": 2, "batch_size": 200}}


def load(folder: pathlib.Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def values(acc: EventAccumulator, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in acc.Scalars(tag)}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A tiny digits job run with the live sink (as ``run --tensorboard`` does); (result, cache)."""
    cache = tmp_path_factory.mktemp("tb") / "cache"
    sink = run_sink(cache, None)
    with sink:
        result = pc.run(CONFIG, sink, cache_dir=cache, origin="test")
    assert result.status == "finished" and sink.failed is None
    assert sink.logdir == result.run_dir.root / TENSORBOARD_DIR
    return result, cache


def test_scalars_equal_the_rounds_and_epochs_tables(job):
    result, _ = job
    acc = load(result.run_dir.root / TENSORBOARD_DIR / "repeat_0")
    rounds, epochs = result.rounds, result.epochs
    layers = sorted(rounds["layer_sparsity"].iloc[-1])
    tags = set(acc.Tags()["scalars"])
    assert {"sparsity", "pruning/remaining_fraction", "pruning/remaining_weights", "round/test_accuracy",
            "round/best_test_accuracy", "round/retrain_epochs", "round/cumulative_epochs", "epoch/test_accuracy",
            "epoch/train_loss", "epoch/test_loss", "epoch/lr", "epoch/sparsity"} <= tags
    assert {f"{layer}/sparsity" for layer in layers} <= tags
    # Per round (step = round): the global sparsity, TF-MOT's tag, is the rounds table's.
    sparsity = values(acc, "sparsity")
    assert sorted(sparsity) == [0, 1, 2]
    for row in rounds.itertuples():
        assert sparsity[row.round] == pytest.approx(row.sparsity, abs=1e-6)
        assert values(acc, "round/test_accuracy")[row.round] == pytest.approx(row.test_accuracy, abs=1e-6)
        for layer, value in row.layer_sparsity.items():
            assert values(acc, f"{layer}/sparsity")[row.round] == pytest.approx(value, abs=1e-6)
    assert sparsity[1] == pytest.approx(0.2, abs=1e-3)          # IMP at the default rate p = 0.2
    # Per epoch (step = epochs trained so far in this repeat): every epoch of the table, in order.
    accuracy, lr = values(acc, "epoch/test_accuracy"), values(acc, "epoch/lr")
    assert sorted(accuracy) == list(range(1, len(epochs) + 1))
    assert [accuracy[s] for s in sorted(accuracy)] == pytest.approx(list(epochs["test_accuracy"]), abs=1e-6)
    assert [lr[s] for s in sorted(lr)] == pytest.approx(list(epochs["lr"]), rel=1e-6)
    assert "run_started/text_summary" in acc.Tags()["tensors"]


def test_one_mask_image_per_layer_and_round(job):
    from PIL import Image

    result, _ = job
    acc = load(result.run_dir.root / TENSORBOARD_DIR / "repeat_0")
    masks = result.masks(-1)
    assert set(acc.Tags()["images"]) == {f"masks/{layer}" for layer in masks}
    last = result.rounds.iloc[-1]
    for layer, mask in masks.items():
        images = acc.Images(f"masks/{layer}")
        assert [i.step for i in images] == [0, 1, 2]
        rows, cols = mask.shape[0], int(np.prod(mask.shape[1:]))
        assert (images[-1].height, images[-1].width) == (rows, cols)
        pixels = np.asarray(Image.open(io.BytesIO(images[-1].encoded_image_string)).convert("L"))
        assert set(np.unique(pixels)) <= {0, 255}
        assert np.array_equal(pixels == 255, mask.cpu().numpy().reshape(rows, cols))     # white = kept
        assert 1 - (pixels == 255).mean() == pytest.approx(last["layer_sparsity"][layer], abs=1e-6)


def test_export_writes_the_same_logs_and_replaces_its_own(job, tmp_path):
    result, cache = job
    live = load(result.run_dir.root / TENSORBOARD_DIR / "repeat_0")
    target = tmp_path / "board"
    assert main(["--cache", str(cache), "export", result.job_id, "--tensorboard", str(target)]) == 0
    assert export_job(result.job_id, cache_dir=cache, logdir=target) == target     # again: replaced, not doubled
    assert len(list((target / "repeat_0").glob("events.out.tfevents.*"))) == 1
    exported = load(target / "repeat_0")
    assert exported.Tags()["scalars"] == live.Tags()["scalars"]
    for tag in ("sparsity", "epoch/test_accuracy", "classifier.0.weight/sparsity"):
        assert values(exported, tag) == values(live, tag)
    assert len(exported.Images("masks/classifier.0.weight")) == 3
    assert main(["--cache", str(cache), "export", result.job_id]) == 2          # neither --out nor --tensorboard


def _round(r: int, sparsity: float, **extra) -> dict:
    return {"type": "round", "time": 1000.0 + r, "job": "j", "repeat": 0, "round": r, "sparsity": sparsity,
            "remaining_fraction": 1 - sparsity, "test_accuracy": 0.9, "layer_sparsity": {"fc": sparsity}, **extra}


def test_write_events_keeps_only_committed_rounds(tmp_path):
    """A round a resume recomputed is written once, with the recomputed value."""
    events = [{"type": "run_started", "time": 999.0, "job": "j", "repeat": 0, "seed": 0},
              _round(0, 0.0), _round(1, 0.2), _round(2, 0.99),           # round 2 superseded by the resume
              {"type": "resumed", "time": 1005.0, "job": "j", "repeat": 0, "from_round": 1},
              _round(2, 0.36), _round(3, 0.36, variant="ASNI-II"), {"type": "run_finished", "time": 1010.0, "job": "j"}]
    masks = {r: {"fc": np.arange(12).reshape(3, 4) >= 12 * s} for r, s in ((0, 0.0), (1, 0.2), (2, 0.36), (3, 0.36))}
    folders = write_events(events, tmp_path, masks_for_round=lambda repeat, r: masks[r])
    assert folders == [tmp_path / "repeat_0", tmp_path / "repeat_0" / "ASNI-II"]     # an evaluation variant apart
    assert values(load(tmp_path / "repeat_0" / "ASNI-II"), "sparsity") == pytest.approx({3: 0.36})
    acc = load(tmp_path / "repeat_0")
    assert values(acc, "sparsity") == pytest.approx({0: 0.0, 1: 0.2, 2: 0.36})
    assert [e.wall_time for e in acc.Scalars("sparsity")] == pytest.approx([1000.0, 1001.0, 1002.0])
    assert [(i.step, i.height, i.width) for i in acc.Images("masks/fc")] == [(0, 3, 4), (1, 3, 4), (2, 3, 4)]


def test_the_sink_never_stops_a_run(tmp_path):
    def broken(repeat, r):
        raise OSError("disk full")

    seen = []
    sink = TensorBoardSink(tmp_path, masks_for_round=broken, forward=seen.append)
    with pytest.warns(RuntimeWarning, match="disk full"):
        sink(_round(0, 0.0))
    sink(_round(1, 0.2))                      # stopped quietly; the events still go to `forward`
    sink.close()
    assert sink.failed == "OSError: disk full" and len(seen) == 2


def test_mask_image():
    conv = np.zeros((4, 2, 3, 3), bool)
    conv[1] = True
    image = mask_image(conv)
    assert image.shape == (4, 18) and image.dtype == np.uint8
    assert image[1].tolist() == [255] * 18 and image[0].max() == 0
    assert mask_image(np.array([True, False])).tolist() == [[255, 0]]
    big = np.zeros((10, 3000), bool)
    big[:, ::2] = True                          # half kept: block-averaged to mid-gray
    small = mask_image(big, max_side=1000)
    assert small.shape == (10, 1000) and set(np.unique(small)) <= {85, 170}


def test_a_job_queued_with_tensorboard_gets_its_logs_from_the_worker(tmp_path):
    """The app's *Write TensorBoard logs*: the record asks, the worker feeds the sink."""
    from pruning_core.config import Config
    from pruning_core.jobs.store import JobStore
    from pruning_core.jobs.worker import serve

    config = Config.from_dict({"training": {"epochs": 2}, "algorithm": {"rounds": 1, "rewind_epoch": 1}})
    store = JobStore(tmp_path)
    with_board = store.create_job(config.to_dict(), config.hash(), tensorboard=True)["id"]
    without = store.create_job(config.to_dict(), config.hash())["id"]
    assert serve(store, 0.1) == 0
    assert store.get_job(with_board)["status"] == store.get_job(without)["status"] == "finished"
    acc = load(store.run_dir(with_board).root / TENSORBOARD_DIR / "repeat_0")
    assert values(acc, "sparsity")[1] == pytest.approx(0.2)
    assert not (store.run_dir(without).root / TENSORBOARD_DIR).exists()
