"""Mask similarity (Paganini & Forde 2020, Sec. 4, Fig. 3, 4, 9, 11): Jaccard distances between
the masks of rounds of one run and between runs that share a seed.

The distance is computed over the **kept** connections (True entries), as in the paper:
``d_J(m_a, m_b) = 1 − |A ∩ B| / |A ∪ B|`` with A, B the sets of surviving weights; two masks that
keep nothing give 0.0. Per layer, plus ``"__model__"`` over all layers concatenated.

This module imports no torch (masks are read with numpy from ``runs/<job>/repeat_<i>/masks``),
so the app can call it; torch bool tensors are accepted too (converted on the fly).

Across rounds of one run: with the engine's pruners masks are nested (no regrowth,
m^(r) ⊆ m^(r−1)), so d_J(m^(r), m^(r−1)) = 1 − |m^(r)| / |m^(r−1)| is the fraction of the layer's
survivors removed in round r — a check of the per-layer rates rather than new information. The
informative comparison is between runs with the same seed (different pruners, weight
treatments, rewinding vs fine-tuning): :func:`jaccard_between_jobs`.
"""

from __future__ import annotations

import pathlib
from ..rundir import RepeatDir, RunDir
from .maskmath import MODEL_KEY, jaccard_distance, jaccard_per_layer

__all__ = ["MODEL_KEY", "jaccard_distance", "jaccard_per_layer", "jaccard_across_rounds",
           "jaccard_between_jobs", "jaccard_between_jobs_all_rounds", "SeedMismatch"]


class SeedMismatch(ValueError):
    """The two jobs' repeats were not started from the same seed, so their masks are not comparable."""


def _repeat_dir(run_dir: RunDir | str | pathlib.Path, repeat: int) -> RepeatDir:
    run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    folder = run_dir.repeat(repeat)
    if not folder.mask_files():
        raise FileNotFoundError(f"no masks for repeat {repeat} in {run_dir.root}")
    return folder


def jaccard_across_rounds(run_dir: RunDir | str | pathlib.Path, repeat: int = 0,
                          reference: str | int = "previous") -> dict[int, dict[str, float]]:
    """{round r: per-layer Jaccard distances between m^(r) and a reference mask} for one repeat.

    ``reference``: ``"previous"`` (m^(r−1), rounds r ≥ 1), ``"first"`` (the dense round 0: the
    distance is then the sparsity), ``"last"`` (the final mask: how far each round is from it),
    or a round number. The reference round itself is left out.
    """
    folder = _repeat_dir(run_dir, repeat)
    rounds = list(folder.mask_files())
    cache: dict[int, dict] = {}

    def get(r: int) -> dict:
        if r not in cache:
            cache[r] = folder.load_masks(r)
        return cache[r]

    out: dict[int, dict[str, float]] = {}
    for i, r in enumerate(rounds):
        if reference == "previous":
            if i == 0:
                continue
            ref = rounds[i - 1]
        elif reference == "first":
            ref = rounds[0]
        elif reference == "last":
            ref = rounds[-1]
        elif isinstance(reference, int) and not isinstance(reference, bool):
            if reference not in rounds:
                raise ValueError(f"reference round {reference} has no masks; rounds: {rounds}")
            ref = reference
        else:
            raise ValueError(f"reference: got {reference!r}; allowed: 'previous', 'first', 'last' or a round")
        if r == ref:
            continue
        out[r] = jaccard_per_layer(get(r), get(ref))
    return out


def _comparable(job_a: str, job_b: str, cache_dir, repeat: int,
                allow_different_seeds: bool) -> tuple[RepeatDir, RepeatDir]:
    """The two repeat folders, after checking that both repeats started from the same seed."""
    from ..jobs.store import JobStore

    with JobStore(cache_dir) as store:
        rec_a, rec_b = store.get_job(job_a), store.get_job(job_b)   # KeyError names known jobs
        seed_a = int(rec_a["config"].get("seed", 0)) + repeat
        seed_b = int(rec_b["config"].get("seed", 0)) + repeat
        if seed_a != seed_b and not allow_different_seeds:
            raise SeedMismatch(
                f"jobs {job_a} (seed {seed_a}) and {job_b} (seed {seed_b}) were not started from the "
                f"same seed at repeat {repeat}: Paganini & Forde compare masks only at identical seeds "
                "(different seeds find different, equally good sub-networks); run both with the same "
                "'seed', or pass allow_different_seeds=True")
        model_a, model_b = rec_a["config"]["model"]["name"], rec_b["config"]["model"]["name"]
        if model_a != model_b:
            raise ValueError(f"jobs {job_a} ({model_a}) and {job_b} ({model_b}) prune different models")
        return _repeat_dir(store.run_dir(job_a), repeat), _repeat_dir(store.run_dir(job_b), repeat)


def jaccard_between_jobs(job_a: str, job_b: str, round_index: int = -1, cache_dir=None, repeat: int = 0, *,
                         allow_different_seeds: bool = False) -> dict[str, float]:
    """Per-layer (and ``"__model__"``) Jaccard distance between two jobs' masks after one round.

    Both jobs' repeat ``repeat`` must have started from the same seed (config ``seed`` + repeat),
    else :class:`SeedMismatch`. ``round_index = −1`` is the last round both jobs finished.
    """
    dir_a, dir_b = _comparable(job_a, job_b, cache_dir, repeat, allow_different_seeds)
    common = sorted(set(dir_a.mask_files()) & set(dir_b.mask_files()))
    if not common:
        raise FileNotFoundError(f"jobs {job_a} and {job_b} have no finished round in common")
    if round_index < 0:
        round_index = common[round_index]
    if round_index not in common:
        raise ValueError(f"round {round_index} is not finished in both jobs; common rounds: {common}")
    return jaccard_per_layer(dir_a.load_masks(round_index), dir_b.load_masks(round_index))


def jaccard_between_jobs_all_rounds(job_a: str, job_b: str, cache_dir=None, repeat: int = 0, *,
                                    allow_different_seeds: bool = False) -> dict[int, dict[str, float]]:
    """{round: per-layer distances} over every round both jobs finished (Paganini's Fig. 3 / 9 curves)."""
    dir_a, dir_b = _comparable(job_a, job_b, cache_dir, repeat, allow_different_seeds)
    common = sorted(set(dir_a.mask_files()) & set(dir_b.mask_files()))
    return {r: jaccard_per_layer(dir_a.load_masks(r), dir_b.load_masks(r)) for r in common}
