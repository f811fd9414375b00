"""A sweep's record in the store: its spec and its job ids, queued in one transaction
(the :class:`~pruning_core.jobs.store.JobStore` methods about sweeps)."""

from __future__ import annotations

import hashlib
import json
import time

from ..errors import CorruptRecord
from .safedisk import guarded

LOCAL = "local"    # the executor whose jobs the store's worker claims; others (``ray``) dispatch their own


class SweepRecords:
    """Sweeps: ``create_sweep``, ``get_sweep``, ``list_sweeps`` (mixed into the JobStore)."""

    @guarded("written")
    def create_sweep(self, spec: dict, members: list[tuple[dict, str, dict, list, str | None]], *,
                     name: str | None = None,
                     origin: str = "app", plugins: list[str] | None = None, executor: str = LOCAL,
                     address: str | None = None) -> dict:
        """Queue every member of a sweep at once and return the sweep record.

        ``spec``: what defines the sweep (base config, axes, zipped); ``members``: (config,
        config hash, axis values, dense keys, lockstep key) per job. All jobs enter the queue in one transaction, so a
        sweep is never half-queued; each job records its sweep, axis values and ``executor`` (the
        worker claims only ``local`` jobs; a Ray driver its sweep's ``ray`` jobs, ``address``)."""
        now = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        with self._sweeps.transact():
            sweep_id, n = f"{stamp}-sweep-{digest[:8]}", 1
            while sweep_id in self._sweeps:
                n += 1
                sweep_id = f"{stamp}-sweep-{digest[:8]}-{n}"
            with self._jobs.transact():
                records = []
                for i, (config, config_hash, values, keys, lockstep) in enumerate(members):
                    label = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in values.items())
                    record = self._new_record(config, config_hash, "queued", origin,
                                              f"{name or sweep_id} · {label}", plugins, now + i * 1e-6,
                                              sweep=sweep_id, axes=values, dense_keys=keys,
                                              lockstep_key=lockstep, executor=executor)
                    self._jobs[record["id"]] = record
                    records.append(record)
            sweep = {"id": sweep_id, "name": name or sweep_id, "created": now, "origin": origin, **spec,
                     "executor": executor, "address": address, "jobs": [r["id"] for r in records]}
            self._sweeps[sweep_id] = sweep
        for record in records:
            self.run_dir(record["id"]).mkdir()
        return sweep

    @guarded("read")
    def get_sweep(self, sweep_id: str) -> dict:
        """The sweep record (its spec and job ids); KeyError if there is none."""
        try:
            sweep = self._sweeps.get(sweep_id)
        except CorruptRecord as exc:
            raise CorruptRecord(f"sweep {sweep_id}: its record in {self._sweeps_file} is unreadable: {exc}") from None
        if sweep is None:
            raise KeyError(f"no sweep {sweep_id!r} in {self.root}")
        return sweep

    @guarded("read")
    def list_sweeps(self) -> list[dict]:
        """Every readable sweep record, newest first."""
        out = []
        for key in self._sweeps.iterkeys():
            try:
                out.append(self.get_sweep(key))
            except CorruptRecord:
                continue
        return sorted(out, key=lambda s: s["id"], reverse=True)
