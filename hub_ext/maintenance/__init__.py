"""Admins' maintenance actions (issue 13): recompute quota use, the runner's queues, clean now.

No tornado here: the portal's handlers call these in a thread.

- :func:`recompute` drops the ledger's reservations whose workload no longer runs, by the one
  rule every reconcile uses (:class:`hub_ext.ledger.workloads.Liveness`).
- :func:`queues` counts what waits for the runner.
- :func:`mark_expired_jobs` asks the runner to remove finished jobs past the retention now: the
  same selection as the runner's own purge (``expired_jobs``), marked for deletion, so the runner
  removes them (rows, logs, artifacts, executor leftovers) in its next pass.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select, update

from ..store.models_storage import Dataset
from ..ledger import Ledger
from ..ledger.workloads import Liveness
from ..policy import format_amount
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models_deployments import Deployment
from ..store.models_jobs import Job
from ..times import iso

DEPLOYMENTS_BUSY = ("Deploying", "Updating", "Stopping")


def _as_dict(r) -> dict:
    return {"kind": r.kind, "workload_id": r.workload_id, "username": r.username, "group": r.group,
            "cpu": r.cpu, "memory": r.memory, "gpu": r.gpu, "gpu_devices": r.gpu_devices,
            "text": {k: format_amount(k, getattr(r, k)) for k in ("cpu", "memory", "gpu")},
            "created": r.created.isoformat() if r.created else None}


def recompute(ledger: Ledger, running_notebooks: set[str]) -> list[dict]:
    """Remove reservations of workloads that are gone; the removed ones, as dicts.

    ``running_notebooks``: ``user/server`` of every server the hub runs or is starting.
    """
    return [_as_dict(r) for r in ledger.reconcile(Liveness(ledger.db_url, running_notebooks))]




def queues(db_url: str) -> dict:
    """What waits for the runner, and when it last changed a job or deployment."""
    from ..services.dataset_sync import due

    with read_scope(db_url) as s:
        pending = s.scalar(select(func.count()).select_from(Job).where(
            Job.phase == "Pending", Job.delete_requested.is_(False)))
        running = s.scalar(select(func.count()).select_from(Job).where(Job.phase.in_(("Preparing", "Running"))))
        busy = s.scalar(select(func.count()).select_from(Deployment).where(Deployment.phase.in_(DEPLOYMENTS_BUSY)))
        deleting = s.scalar(select(func.count()).select_from(Job).where(Job.delete_requested.is_(True)))
        job_update = s.scalar(select(func.max(Job.updated)))
        deployment_update = s.scalar(select(func.max(Deployment.updated)))
        datasets = s.scalar(select(func.count()).select_from(Dataset).where(Dataset.kind == "git"))
    return {
        "pending_jobs": int(pending), "running_jobs": int(running), "jobs_to_remove": int(deleting),
        "deployments_in_progress": int(busy), "git_datasets": int(datasets),
        "git_datasets_due": len(due(db_url)),
        "last_job_update": iso(job_update), "last_deployment_update": iso(deployment_update),
    }


def mark_expired_jobs(db_url: str, retention_days: float, keep_per_group: int,
                      now: datetime | None = None) -> list[dict]:
    """Mark the finished jobs past the retention for removal by the runner; the marked ones."""
    from ..jobs.retention import expired_jobs

    now = now or datetime.now(timezone.utc)
    jobs = expired_jobs(db_url, now, retention_days, keep_per_group)
    if jobs:
        with session_scope(db_url) as s:
            s.execute(update(Job).where(Job.id.in_([j.id for j in jobs])).values(delete_requested=True))
    return [{"id": j.id, "name": j.name, "group": j.group, "username": j.username, "phase": j.phase,
             "finished": iso(j.finished)} for j in jobs]
