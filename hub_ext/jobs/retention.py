"""Which finished jobs the retention removes: the same selection for the runner's own purge and for
Maintenance's "clean now"."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from ..store.engine import read_scope
from ..store.models_jobs import DONE_PHASES, Job


def expired_jobs(db_url: str, now, retention_days: float, keep_per_group: int) -> list[Job]:
    """Finished jobs past the retention, beyond the newest ``keep_per_group`` of each group."""
    cutoff = now - timedelta(days=retention_days)
    with read_scope(db_url) as s:
        rows = list(s.scalars(select(Job).where(Job.phase.in_(DONE_PHASES), Job.finished < cutoff)
                              .order_by(Job.group, Job.id.desc())))
        keep: dict[str, int] = {}
        newest = {g: n for g, n in s.execute(
            select(Job.group, func.count()).where(Job.phase.in_(DONE_PHASES), Job.finished >= cutoff)
            .group_by(Job.group))}
    out = []
    for job in rows:
        kept = newest.get(job.group, 0) + keep.get(job.group, 0)
        if kept < keep_per_group:
            keep[job.group] = keep.get(job.group, 0) + 1
        else:
            out.append(job)
    return out
