"""Ensembles of sub-networks (Paganini & Forde 2020, Table 2 and Fig. 14 / App. D).

The ensemble's prediction is the argmax of the **mean softmax probabilities** of its members
(Paganini & Forde average the members' predictions; averaging probabilities rather than logits
keeps members with large logits from dominating). Evaluation runs in float32 on the test set,
in its stored order, with every member in eval mode. Besides each member's and the ensemble's
accuracy, ``agreement`` is the fraction of test samples on which all members predict the same
class (Fig. 14 counts such samples).

:func:`load_member` rebuilds a finished job's network from its config and loads the trained
weights of its last round (``runs/<job>/repeat_<i>/weights/round_<r>.pt``, pruned weights already
0; the masks of that round are multiplied in again so they are exactly 0), or the dense
``round_000.pt`` for ``round_index=0``. Other rounds' weights are not kept by the engine.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["ensemble_accuracy", "load_member", "ensemble_jobs"]


@torch.inference_mode()
def ensemble_accuracy(models: Sequence[nn.Module], data, batch_size: int = 1000) -> dict:
    """{"members": [accuracy of each model], "ensemble": accuracy of the mean softmax, "agreement",
    "n": test samples} on ``data``'s test set (a :class:`DeviceDataset`, or anything with
    ``test_batches(batch_size)`` yielding (x, y))."""
    if not models:
        raise ValueError("an ensemble needs at least one model")
    was_training = [m.training for m in models]
    for m in models:
        m.eval()
    devices = [next(m.parameters()).device for m in models]
    correct = torch.zeros(len(models), dtype=torch.long)
    ens_correct = agree = n = 0
    try:
        for x, y in data.test_batches(batch_size):
            probs_sum = None
            preds = []
            y_cpu = y.cpu()
            for k, (model, device) in enumerate(zip(models, devices)):
                probs = torch.softmax(model(x.to(device)).float(), dim=1).cpu()
                pred = probs.argmax(1)
                preds.append(pred)
                correct[k] += int((pred == y_cpu).sum())
                probs_sum = probs if probs_sum is None else probs_sum + probs
            ens_correct += int((probs_sum.argmax(1) == y_cpu).sum())
            stacked = torch.stack(preds)
            agree += int((stacked == stacked[0]).all(0).sum())
            n += int(y.shape[0])
    finally:
        for m, mode in zip(models, was_training):
            m.train(mode)
    if n == 0:
        raise ValueError("the test set is empty")
    return {"members": [int(c) / n for c in correct], "ensemble": ens_correct / n, "agreement": agree / n,
            "n": n}


def _job_config(job_id: str, cache_dir):
    from ..config import Config
    from ..jobs.store import JobStore

    with JobStore(cache_dir) as store:
        return Config.from_dict(store.get_job(job_id)["config"]), store.run_dir(job_id)


def load_member(job_id: str, cache_dir=None, repeat: int = 0, *, round_index: int | None = None,
                device: str | torch.device = "cpu") -> nn.Module:
    """The trained network of a job's last round (or of round 0, the dense one), in eval mode."""
    from ..data import DATASETS
    from ..masks import load_masks
    from ..models import build_model

    config, run_dir = _job_config(job_id, cache_dir)
    spec = DATASETS[config.dataset.name]
    files = run_dir.repeat(repeat)
    last = (files.committed() or {}).get("round")
    if last is None:
        raise FileNotFoundError(f"job {job_id} repeat {repeat} has no finished round")
    if round_index is None or round_index < 0:
        round_index = last
    if round_index == last:
        weights = files.last_weights()
    elif round_index == 0:
        weights = "round_000"
    else:
        raise ValueError(f"job {job_id}: only the weights of round 0 and of the last round ({last}) are kept, "
                         f"not of round {round_index}")
    model = build_model(config.model.name, in_channels=spec.in_channels, num_classes=spec.num_classes,
                        input_size=spec.input_size)
    model.load_state_dict(files.load_weights(weights, "cpu"))
    masks = load_masks(files.mask_file(round_index), "cpu")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask.to(params[name].dtype))
    return model.to(device).eval()


def ensemble_jobs(job_ids: Sequence[str], cache_dir=None, repeat: int = 0, *, device: str | None = None,
                  batch_size: int = 1000, round_index: int | None = None) -> dict:
    """:func:`ensemble_accuracy` of the jobs' last-round networks on their (shared) test set.

    All jobs must use the same dataset. Adds ``"jobs"`` (the ids, in member order)."""
    from ..data import load_dataset
    from ..devices import resolve_device

    configs = [_job_config(j, cache_dir)[0] for j in job_ids]
    names = {c.dataset.name for c in configs}
    if len(names) != 1:
        raise ValueError(f"the jobs use different datasets ({', '.join(sorted(names))}); an ensemble needs one")
    dev = resolve_device(device or "auto")
    dc = configs[0].dataset
    data = load_dataset(dc.name, data_dir=dc.data_dir, device=dev, download=dc.download, augment=False)
    models = [load_member(j, cache_dir, repeat, round_index=round_index, device=dev) for j in job_ids]
    return {"jobs": list(job_ids), **ensemble_accuracy(models, data, batch_size)}
