"""Round 0 of one repeat shared between jobs: the run-side half of :mod:`pruning_core.dense`.

A repeat whose round 0 (dense training from θ₀) equals another job's records its round-0 events
while it trains and publishes them with the files (:meth:`SharedDense.publish`); a later repeat
with the same key takes both instead of training (:meth:`SharedDense.reuse`). Used by
:func:`pruning_core.loop.open_repeat` and :func:`pruning_core.loop.run_repeat`.
"""

from __future__ import annotations

from typing import Any, Callable

from .masks import full_masks

# ``ctx`` is a loop.RunContext and ``run`` a loop.RepeatRun; they are not imported here (not even
# for type checking), so this module stays below loop.py in the import graph.
RunContext = RepeatRun = Any


class SharedDense:
    """Round 0 of one repeat, shared through :mod:`pruning_core.dense` (OpenLTH's levels)."""

    def __init__(self, ctx: RunContext, repeat: int):
        from .dense import dense_key

        self.ctx, self.repeat = ctx, repeat
        self.key = dense_key(ctx.config, repeat) if ctx.dense_root is not None else None
        self.events: list[dict] = []

    def recording(self, emit: Callable[..., None]) -> Callable[..., None]:
        """``emit`` that also keeps this repeat's round-0 epoch and round events."""
        def record(kind: str, **fields: Any) -> None:
            if kind in ("epoch", "round") and fields.get("round") == 0 and fields.get("repeat") == self.repeat:
                self.events.append({"type": kind, **fields})
            emit(kind, **fields)
        return record

    def publish(self, run: RepeatRun) -> None:
        """Offer the round 0 this repeat just trained and committed to later jobs."""
        from .dense import publish, published

        if self.key is not None and not published(self.ctx.dense_root, self.key) and self.events:
            publish(self.ctx.dense_root, self.key, run.files, self.events,
                    {"job": self.ctx.job_id, "repeat": self.repeat})

    def reuse(self, run: RepeatRun) -> int | None:
        """Take round 0 from the job that published it: its files, its events (marked
        ``dense_from``), the commit; return 0, or None when there is nothing to reuse."""
        from .dense import published, reuse

        if self.key is None or not published(self.ctx.dense_root, self.key):
            return None
        events, source = reuse(self.ctx.dense_root, self.key, run.files)
        mask_file = str(run.files.mask_file(0).relative_to(self.ctx.run_dir.root))
        for event in events:
            fields = {k: v for k, v in event.items() if k not in ("type", "job", "time")}
            fields.update(repeat=self.repeat, dense_from=source)
            if event["type"] == "round":
                fields["mask_file"] = mask_file
            else:
                self.ctx.progress.epoch_done()
            self.ctx.emit(event["type"], **fields)
        run.load_state(run.files.load_weights("round_000", self.ctx.device))
        run.masks = full_masks(run.params)
        run.files.commit({"round": 0, "weights": "round_000", "cumulative_epochs": 0,
                          "pruner": run.pruner.state_dict(), "memo": run.memo})
        return 0
