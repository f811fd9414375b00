"""Where a sweep's jobs stand (torch-free): what every executor watches."""

from __future__ import annotations

from ..errors import CorruptRecord

STOPPED = ("finished", "failed", "cancelled", "interrupted", "unreadable")


def job_states(store, sweep: dict) -> dict[str, dict]:
    """{job id: record} of a sweep's jobs (an unreadable one as status ``unreadable``)."""
    out = {}
    for job_id in sweep["jobs"]:
        try:
            out[job_id] = store.get_job(job_id)
        except (CorruptRecord, KeyError) as exc:
            out[job_id] = {"id": job_id, "status": "unreadable", "error": str(exc), "axes": {}}
    return out
