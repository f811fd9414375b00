"""TensorBoard event files of a job, written from its events: the engine knows nothing of them.

``python -m pruning_core run --tensorboard [DIR]`` writes them while the job runs (a
:class:`TensorBoardSink` beside the printed lines); ``export JOB --tensorboard [DIR]`` writes them
afterwards from the stored events and masks (:func:`export_job`), for a job started anywhere (the
app, a sweep, a notebook). ``DIR`` defaults to the job's run folder, ``runs/<job>/tensorboard/``.
The writer is PyTorch's own :class:`torch.utils.tensorboard.SummaryWriter` (it needs the
``tensorboard`` package); view the files with ``tensorboard --logdir DIR``.

One TensorBoard run per repeat, ``DIR/repeat_<i>/`` (an evaluation variant's rounds, ASNI-II and
its original-init control, in ``DIR/repeat_<i>/<variant>/``). Every value is stamped with the wall
time its event was emitted. Tags:

per round, step = the round (0 = the dense network):
    ``sparsity``                  the global sparsity (TF Model Optimization's ``PruningSummaries`` tag)
    ``<layer>/sparsity``          each layer's sparsity (TF-MOT's ``<mask>/sparsity``), e.g.
                                  ``classifier.0.weight/sparsity``
    ``pruning/<name>``            remaining_fraction, remaining_weights, and where the run has them
                                  effective_sparsity, planned_sparsity, flops, sparse_bytes,
                                  stability_to_pruning, stability_to_pruning_relative
    ``round/<name>``              test_accuracy, best_test_accuracy, retrain_epochs,
                                  cumulative_epochs (the search cost), seconds, and
                                  test_accuracy_before_pruning where the run has it
    ``masks/<layer>``             the layer's mask as a grayscale image: white = kept, black =
                                  pruned; one row per output unit (a conv filter's weights
                                  flattened); a side over 1024 pixels is block-averaged
per epoch, step = the epochs this repeat has trained so far (1, 2, … across rounds):
    ``epoch/<name>``              test_accuracy, train_loss, test_loss, lr, sparsity, round, and
                                  mask_change_D, mask_change_D_tilde, linf, l1_top_k where recorded
per repeat, at step 0:
    ``run_started``               text: job, config hash, device, seed, planned epochs, data source
"""

from __future__ import annotations

import json
import math
import pathlib
import warnings
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from .events import EPOCH_EXTRA_COLUMNS, Event, committed_events
from .rundir import TENSORBOARD_DIR, RunDir
from .summary import EVALUATION_VARIANTS

MasksForRound = Callable[[int, int], "Mapping[str, np.ndarray] | None"]

EPOCH_SCALARS = ["test_accuracy", "train_loss", "test_loss", "lr", "sparsity", "round", *EPOCH_EXTRA_COLUMNS]
PRUNING_SCALARS = ["remaining_fraction", "remaining_weights", "effective_sparsity", "planned_sparsity", "flops",
                   "sparse_bytes", "stability_to_pruning", "stability_to_pruning_relative"]
ROUND_SCALARS = ["test_accuracy", "best_test_accuracy", "retrain_epochs", "cumulative_epochs", "seconds",
                 "test_accuracy_before_pruning"]
MAX_IMAGE_SIDE = 1024
EVENT_FILE_PREFIX = "events.out.tfevents."


def mask_image(mask: np.ndarray, max_side: int = MAX_IMAGE_SIDE) -> np.ndarray:
    """A mask as an (H, W) uint8 grayscale image: 255 = kept, 0 = pruned. Rows are output units
    (dimension 0), columns everything else flattened; a 1-D mask is one row. A side longer than
    ``max_side`` is block-averaged (a pixel's gray = the kept fraction of its block)."""
    mask = np.asarray(mask)
    grid = mask.reshape(1, -1) if mask.ndim < 2 else mask.reshape(mask.shape[0], -1)
    grid = grid.astype(np.float32)
    fy, fx = (max(1, math.ceil(n / max_side)) for n in grid.shape)
    if fy > 1 or fx > 1:
        h, w = grid.shape
        padded = np.full((math.ceil(h / fy) * fy, math.ceil(w / fx) * fx), np.nan, np.float32)
        padded[:h, :w] = grid
        grid = np.nanmean(padded.reshape(padded.shape[0] // fy, fy, padded.shape[1] // fx, fx), axis=(1, 3))
    return np.rint(grid * 255).astype(np.uint8)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _clear_event_files(folder: pathlib.Path) -> None:
    """Remove the TensorBoard event files an earlier write left in ``folder`` and its subfolders
    (so writing a job's logs again replaces them instead of doubling every curve)."""
    if folder.is_dir():
        for path in folder.rglob(f"{EVENT_FILE_PREFIX}*"):
            path.unlink(missing_ok=True)


class TensorBoardSink:
    """An ``on_event`` callback that writes each event's values as it arrives.

    ``logdir``: the folder, or None for the job's run folder (``runs/<job>/tensorboard/``, found
    through ``run_dir_for(job)``). ``masks_for_round(repeat, round)`` gives a round's masks
    ({layer: bool array}) for the images; by default they are read from the job's run folder.
    Event files already in the logdir's ``repeat_<i>/`` folders are replaced. The sink never
    raises into the run that calls it: a failure is reported once (a warning) and the sink stops.
    Call :meth:`close` (or use it as a context manager) to flush the files. ``forward`` gets every
    event first (the CLI's printed lines).
    """

    def __init__(self, logdir: str | pathlib.Path | None = None, *, masks_for_round: MasksForRound | None = None,
                 run_dir_for: Callable[[str], RunDir] | None = None,
                 forward: Callable[[Event], None] | None = None):
        self.forward = forward
        self.logdir = pathlib.Path(logdir) if logdir is not None else None
        self.masks_for_round = masks_for_round
        self.run_dir_for = run_dir_for
        self.failed: str | None = None
        self._writers: dict[str, Any] = {}
        self._epochs: dict[int, int] = {}
        self._run_dir: RunDir | None = None

    # ---- the callback ------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        if self.forward is not None:
            self.forward(event)
        if self.failed is not None:
            return
        try:
            self.write(event)
        except Exception as exc:          # a full disk, a missing tensorboard package: the run goes on
            self.failed = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"TensorBoard logs stopped: {self.failed}", RuntimeWarning, stacklevel=2)

    def write(self, event: Event) -> None:
        """Write one event's values (raises on failure, unlike calling the sink)."""
        kind = event.get("type")
        if kind == "run_started":
            self._start(event)
        elif kind == "epoch":
            self._epoch(event)
        elif kind == "round":
            self._round(event)
        elif kind in ("run_finished", "run_cancelled", "run_failed"):
            self.flush()

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def __enter__(self) -> "TensorBoardSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def folders(self) -> list[pathlib.Path]:
        """The run folders written so far (one per repeat and evaluation variant)."""
        return [pathlib.Path(w.log_dir) for w in self._writers.values()]

    # ---- writers -----------------------------------------------------------------------------

    def _root(self, event: Event) -> pathlib.Path:
        if self.logdir is None:
            if self.run_dir_for is None or not event.get("job"):
                raise ValueError("no TensorBoard folder: give logdir, or run_dir_for and events that name their job")
            self.logdir = self._job_run_dir(event["job"]).root / TENSORBOARD_DIR
        return self.logdir

    def _job_run_dir(self, job: str) -> RunDir:
        if self._run_dir is None:
            self._run_dir = self.run_dir_for(job)
        return self._run_dir

    def _writer(self, event: Event, variant: str | None = None):
        repeat = int(event.get("repeat") or 0)
        key = f"repeat_{repeat}" + (f"/{variant}" if variant else "")
        if key not in self._writers:
            from torch.utils.tensorboard import SummaryWriter

            folder = self._root(event) / key
            if not variant:
                _clear_event_files(folder)
            folder.mkdir(parents=True, exist_ok=True)
            self._writers[key] = SummaryWriter(log_dir=str(folder))
        return self._writers[key]

    # ---- events ------------------------------------------------------------------------------

    def _start(self, event: Event) -> None:
        writer = self._writer(event)
        fields = {k: event.get(k) for k in ("job", "config_hash", "device", "repeat", "seed", "planned_epochs",
                                            "dataset_source") if k in event}
        writer.add_text("run_started", "```\n" + json.dumps(fields, indent=2, default=str) + "\n```", 0,
                        walltime=event.get("time"))

    def _epoch(self, event: Event) -> None:
        repeat = int(event.get("repeat") or 0)
        self._epochs[repeat] = step = self._epochs.get(repeat, 0) + 1
        writer = self._writer(event)
        for name in EPOCH_SCALARS:
            value = _number(event.get(name))
            if value is not None:
                writer.add_scalar(f"epoch/{name}", value, step, walltime=event.get("time"))

    def _round(self, event: Event) -> None:
        variant = event.get("variant") if event.get("variant") in EVALUATION_VARIANTS else None
        writer = self._writer(event, variant)
        step, walltime = int(event["round"]), event.get("time")
        sparsity = _number(event.get("sparsity"))
        if sparsity is not None:
            writer.add_scalar("sparsity", sparsity, step, walltime=walltime)
        for layer, value in (event.get("layer_sparsity") or {}).items():
            if _number(value) is not None:
                writer.add_scalar(f"{layer}/sparsity", float(value), step, walltime=walltime)
        for prefix, names in (("pruning", PRUNING_SCALARS), ("round", ROUND_SCALARS)):
            for name in names:
                value = _number(event.get(name))
                if value is not None:
                    writer.add_scalar(f"{prefix}/{name}", value, step, walltime=walltime)
        masks = self._masks(event)
        for layer, mask in (masks or {}).items():
            writer.add_image(f"masks/{layer}", mask_image(mask)[None], step, walltime=walltime, dataformats="CHW")
        writer.flush()

    def _masks(self, event: Event) -> Mapping[str, np.ndarray] | None:
        repeat, round_index = int(event.get("repeat") or 0), int(event["round"])
        if self.masks_for_round is not None:
            return self.masks_for_round(repeat, round_index)
        if self.run_dir_for is None or not event.get("job"):
            return None
        return self._job_run_dir(event["job"]).repeat(repeat).load_masks(round_index)


def write_events(events: Iterable[Event], logdir: str | pathlib.Path, *,
                 masks_for_round: MasksForRound | None = None) -> list[pathlib.Path]:
    """Write a job's stored events as TensorBoard files under ``logdir``; return the run folders.

    Only what counts is written (:func:`~pruning_core.events.committed_events`: rounds a resume
    recomputed appear once). ``masks_for_round(repeat, round)`` gives the mask images; without
    it, no images. Unlike the sink, a failure raises."""
    sink = TensorBoardSink(logdir, masks_for_round=masks_for_round)
    try:
        for event in committed_events(list(events)):
            sink.write(event)
        return sink.folders
    finally:
        sink.close()


def export_job(job_id: str, *, cache_dir: str | pathlib.Path | None = None,
               logdir: str | pathlib.Path | None = None) -> pathlib.Path:
    """Write a stored job's TensorBoard files from its events and its run folder's masks into
    ``logdir`` (default: ``runs/<job>/tensorboard/``); return the folder."""
    from .jobs.store import JobStore

    with JobStore(cache_dir) as store:
        store.get_job(job_id)                 # an unknown job: KeyError naming it
        events = store.events(job_id)
        run_dir = store.run_dir(job_id)
    target = pathlib.Path(logdir) if logdir is not None else run_dir.root / TENSORBOARD_DIR
    write_events(events, target, masks_for_round=lambda repeat, r: run_dir.repeat(repeat).load_masks(r))
    return target


def run_sink(cache_dir: str | pathlib.Path | None, logdir: str | pathlib.Path | None, *,
             forward: Callable[[Event], None] | None = None) -> TensorBoardSink:
    """The sink ``run --tensorboard [DIR]`` feeds: masks from the job's run folder in the store at
    ``cache_dir``, files in ``logdir`` or the run folder's ``tensorboard/``."""
    from .jobs.store import JobStore

    def run_dir_for(job: str) -> RunDir:
        with JobStore(cache_dir) as store:
            return store.run_dir(job)

    return TensorBoardSink(logdir, run_dir_for=run_dir_for, forward=forward)
