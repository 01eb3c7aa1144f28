"""Jobs in the portal DB: submit, read, list, who may see and change them.

The hub writes desired state here (a new job, a cancel or delete request);
the runner (``hub_ext.services``) reconciles it. Conditional UPDATEs keep the
two processes from stepping on each other: a Pending job is cancelled by the
hub only while it is still Pending, and admitted by the runner only while it
is still Pending, so exactly one of the two wins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, delete, func, select, update

from .. import activity
from ..keys import decrypt, encrypt
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_jobs import ACTIVE_PHASES, DONE_PHASES, Job, JobArtifact
from .requests import Resolved
from ..times import iso

KIND = "job"  # the ledger's workload kind and the activity kind






@dataclass(frozen=True)
class Viewer:
    """Who asks: what they may see and do with a group's jobs."""

    username: str
    admin: bool = False  # hub admin: sees and cancels every job
    group_admin_of: frozenset[str] = frozenset()  # sees and cancels every job of these groups
    member_of: frozenset[str] = frozenset()
    # display names of groups by id: messages (a refusal's "(group alpha)") name groups as people know them
    group_titles: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def words(self, text: str) -> str:
        """A message as this viewer reads it: groups named by their display names."""
        return activity.name_groups(text, self.group_titles)

    def sees(self, job) -> bool:
        if self.admin:
            return True
        if job.group not in self.member_of:
            return False
        return job.username == self.username or job.group in self.group_admin_of

    def sees_all_of(self, group: str) -> bool:
        return self.admin or group in self.group_admin_of

    def may_cancel(self, job) -> bool:
        return self.sees(job)  # the owner, the group's admins and hub admins

    def may_change(self, job) -> bool:
        """Re-run, delete, edit: the owner (a job runs as its owner) and hub admins (delete only)."""
        return job.username == self.username


class JobStore:
    def __init__(self, db_url: str, key: bytes, hub_prefix: str = "/hub/"):
        self.db_url = db_url
        self.key = key
        self.hub_prefix = hub_prefix

    # -- environment (encrypted at rest) -------------------------------------

    def seal_env(self, env: dict[str, str]) -> str:
        return encrypt(self.key, json.dumps(env)) if env else ""

    def open_env(self, sealed: str) -> dict[str, str]:
        if not sealed:
            return {}
        plain = decrypt(self.key, sealed)
        return json.loads(plain) if plain else {}

    def link(self, job_id: int) -> str:
        return f"{self.hub_prefix}portal/jobs/{job_id}"

    def record(self, job, action: str, status: str, message: str) -> None:
        activity.record(self.db_url, username=job.username, group=job.group, kind=KIND, action=action,
                        status=status, message=message, workload_id=str(job.id), link=self.link(job.id))

    # -- submit --------------------------------------------------------------

    def submit(self, *, group: str, username: str, job: Resolved, never_fits: str = "",
               schedule_id: int | None = None, scheduled_for: datetime | None = None,
               rerun_of: int | None = None, session=None, record: bool = True) -> Job:
        """A new job, Pending; or Failed/OverQuota at once when it can never fit."""
        now = utcnow()
        row = Job(
            group=group, username=username, name=job.name, command=job.command, image=job.image.name,
            instance_type=job.instance_type.name, env_encrypted=self.seal_env(job.env), timeout=job.timeout,
            datasets=json.dumps(list(job.datasets)), resource_group=job.placed,
            cpu=job.instance_type.cpu, memory=job.instance_type.memory, gpu=job.instance_type.gpu,
            phase="Pending", reason="", message="", cancel_requested=False, delete_requested=False,
            executor="", handle="", log_read=0, log_size=0, artifacts_note="", schedule_id=schedule_id,
            scheduled_for=scheduled_for, rerun_of=rerun_of, created=now, updated=now,
        )
        if never_fits:
            row.phase, row.reason, row.message, row.finished = "Failed", "OverQuota", never_fits, now
        if session is not None:
            session.add(row)
            session.flush()
        else:
            with session_scope(self.db_url) as s:
                s.add(row)
                s.flush()
        if record:
            self.record_submitted(row, never_fits)
        return row

    def record_submitted(self, row: Job, never_fits: str = "") -> None:
        origin = " by its schedule" if row.schedule_id else ""
        self.record(row, "submitted", "info", f"Job {row.name!r} (#{row.id}) submitted in {row.group}{origin}")
        if never_fits:
            self.record(row, "failed", "error", f"Job {row.name!r} (#{row.id}) failed (OverQuota): {never_fits}")

    def record_schedule(self, row, action: str, status: str, message: str) -> None:
        activity.record(self.db_url, username=row.username, group=row.group, kind="schedule", action=action,
                        status=status, message=message, workload_id=str(row.id),
                        link=f"{self.hub_prefix}portal/schedules/{row.id}")

    # -- read ----------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        with read_scope(self.db_url) as s:
            return s.scalars(select(Job).where(Job.id == job_id, Job.delete_requested.is_(False))).first()

    def visible(self, job_id: int, viewer: Viewer) -> Job | None:
        """The job if ``viewer`` may see it; None (answer 404) otherwise, whether or not it exists."""
        job = self.get(job_id)
        return job if job is not None and viewer.sees(job) else None

    def list(self, group: str, viewer: Viewer, *, username: str | None = None, phase: str | None = None,
             schedule_id: int | None = None, limit: int = 50, before: int | None = None) -> list[Job]:
        q = select(Job).where(Job.group == group, Job.delete_requested.is_(False))
        if not viewer.sees_all_of(group):
            username = viewer.username
        if username is not None:
            q = q.where(Job.username == username)
        if phase is not None:
            q = q.where(Job.phase == phase)
        if schedule_id is not None:
            q = q.where(Job.schedule_id == schedule_id)
        if before is not None:
            q = q.where(Job.id < before)
        q = q.order_by(Job.id.desc()).limit(max(1, min(limit, 500)))
        with read_scope(self.db_url) as s:
            return list(s.scalars(q))

    def queue_positions(self, group: str) -> dict[int, int]:
        """Each Pending job's 1-based place in its group's queue (oldest first)."""
        q = (select(Job.id).where(Job.group == group, Job.phase == "Pending", Job.delete_requested.is_(False))
             .order_by(Job.id))
        with read_scope(self.db_url) as s:
            return {job_id: n for n, job_id in enumerate(s.scalars(q), start=1)}

    def artifacts(self, job_id: int) -> list[tuple[str, int]]:
        q = select(JobArtifact.path, JobArtifact.size).where(JobArtifact.job_id == job_id).order_by(JobArtifact.path)
        with read_scope(self.db_url) as s:
            return [(p, n) for p, n in s.execute(q)]

    def artifact(self, job_id: int, path: str) -> bytes | None:
        q = select(JobArtifact.data).where(JobArtifact.job_id == job_id, JobArtifact.path == path)
        with read_scope(self.db_url) as s:
            return s.scalars(q).first()

    def active_count(self, schedule_id: int) -> int:
        q = select(func.count()).select_from(Job).where(Job.schedule_id == schedule_id,
                                                         Job.phase.in_(ACTIVE_PHASES))
        with read_scope(self.db_url) as s:
            return s.scalar(q) or 0

    # -- change --------------------------------------------------------------

    def cancel(self, job: Job, by: str) -> Job:
        """Cancel: a Pending job at once (it holds nothing); a started one through the runner."""
        now = utcnow()
        with session_scope(self.db_url) as s:
            done = s.execute(
                update(Job).where(Job.id == job.id, Job.phase == "Pending")
                .values(phase="Cancelled", reason="Cancelled", message=f"Cancelled by {by}", finished=now,
                        updated=now, cancel_requested=True)
            ).rowcount
            if not done:
                s.execute(update(Job).where(Job.id == job.id, Job.phase.not_in(DONE_PHASES))
                          .values(cancel_requested=True, updated=now))
        if done:
            self.record(job, "cancelled", "info", f"Job {job.name!r} (#{job.id}) cancelled by {by}")
        return self.get(job.id) or job

    def delete(self, job: Job) -> None:
        """Hide the job now; the runner stops it if it still runs and removes it with its logs and artifacts."""
        with session_scope(self.db_url) as s:
            s.execute(update(Job).where(Job.id == job.id).values(delete_requested=True, cancel_requested=True,
                                                                   updated=utcnow()))

    def purge(self, job_id: int) -> None:
        """Remove the row; its log chunks and artifacts go with it (ON DELETE CASCADE)."""
        with session_scope(self.db_url) as s:
            s.execute(delete(Job).where(Job.id == job_id))

    # -- JSON ----------------------------------------------------------------

    def as_json(self, job: Job, viewer: Viewer | None = None, position: int | None = None) -> dict:
        env = self.open_env(job.env_encrypted)
        owner = viewer is None or viewer.username == job.username
        words = viewer.words if viewer is not None else str
        data = {
            "id": job.id, "group": job.group, "username": job.username, "name": job.name,
            "command": job.command, "image": job.image, "instance_type": job.instance_type,
            "resource_group": job.resource_group or None,
            # values only for the owner: they may hold credentials
            "env": env if owner else {k: "" for k in env}, "timeout": job.timeout, "datasets": job.dataset_picks,
            "resources": {"cpu": job.cpu, "memory": job.memory, "gpu": job.gpu},
            "phase": job.phase, "reason": job.reason or None, "message": words(job.message),
            "exit_code": job.exit_code, "cancel_requested": bool(job.cancel_requested),
            "queue": None, "log_size": job.log_size, "artifacts_note": job.artifacts_note or None,
            "schedule_id": job.schedule_id, "scheduled_for": iso(job.scheduled_for), "rerun_of": job.rerun_of,
            "created": iso(job.created), "admitted": iso(job.admitted), "started": iso(job.started),
            "finished": iso(job.finished), "link": self.link(job.id),
        }
        if job.phase == "Pending":
            data["queue"] = {"position": position, "message": words(job.message) or "Waiting for the runner"}
        return data


def pending_for_update(group: str | None = None):
    """Pending jobs, oldest first (the runner's queue)."""
    q = select(Job).where(Job.phase == "Pending", Job.delete_requested.is_(False))
    if group is not None:
        q = q.where(Job.group == group)
    return q.order_by(Job.id)


def not_done():
    return and_(Job.phase.not_in(DONE_PHASES))
