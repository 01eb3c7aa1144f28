"""Recurring jobs in the portal DB: create, change, list, and what the page shows of them."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import delete, select

from .schedules import INACTIVE, Schedule, ScheduleError, next_runs
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_jobs import JobSchedule, ScheduleRun
from ..times import iso, utc
from .records import JobStore, Viewer
from .requests import RequestError, Resolved


def check_schedule(recurrence: str, time_zone: str, overlap: str) -> Schedule:
    try:
        return Schedule.parse(recurrence, time_zone, overlap)
    except ScheduleError as exc:
        raise RequestError(exc.errors) from None


class ScheduleStore:
    def __init__(self, jobs: JobStore):
        self.jobs = jobs
        self.db_url = jobs.db_url

    def create(self, *, group: str, username: str, job: Resolved, recurrence: str, time_zone: str,
               overlap: str) -> JobSchedule:
        schedule = check_schedule(recurrence, time_zone, overlap)
        now = utcnow()
        row = JobSchedule(group=group, username=username, name=job.name, command=job.command,
                          image=job.image.name, instance_type=job.instance_type.name,
                          resource_group=job.placed, env_encrypted=self.jobs.seal_env(job.env), timeout=job.timeout,
                          datasets=json.dumps(list(job.datasets)),
                          recurrence=schedule.recurrence.text, time_zone=time_zone, overlap=overlap,
                          last_scheduled=None, created=now, updated=now)
        with session_scope(self.db_url) as s:
            s.add(row)
            s.flush()
        self.jobs.record_schedule(row, "created", "info",
                                  f"Recurring job {row.name!r} created ({row.recurrence}, {row.time_zone})")
        return row

    def get(self, schedule_id: int) -> JobSchedule | None:
        with read_scope(self.db_url) as s:
            return s.get(JobSchedule, schedule_id)

    def visible(self, schedule_id: int, viewer: Viewer) -> JobSchedule | None:
        row = self.get(schedule_id)
        return row if row is not None and viewer.sees(row) else None

    def list(self, group: str, viewer: Viewer) -> list[JobSchedule]:
        q = select(JobSchedule).where(JobSchedule.group == group)
        if not viewer.sees_all_of(group):
            q = q.where(JobSchedule.username == viewer.username)
        with read_scope(self.db_url) as s:
            return list(s.scalars(q.order_by(JobSchedule.id)))

    def update(self, row: JobSchedule, changes: dict, job: Resolved | None) -> JobSchedule:
        """Apply a validated change; a new recurrence or zone starts counting from now (no catch-up)."""
        recurrence = changes.get("recurrence", row.recurrence)
        time_zone = changes.get("time_zone", row.time_zone)
        overlap = changes.get("overlap", row.overlap)
        schedule = check_schedule(recurrence, time_zone, overlap)
        now = utcnow()
        with session_scope(self.db_url) as s:
            current = s.get(JobSchedule, row.id)
            if current is None:
                return row
            if job is not None:
                current.name, current.command = job.name, job.command
                current.image, current.instance_type = job.image.name, job.instance_type.name
                current.resource_group = job.placed
                current.env_encrypted, current.timeout = self.jobs.seal_env(job.env), job.timeout
                current.datasets = json.dumps(list(job.datasets))
            if (schedule.recurrence.text, time_zone) != (current.recurrence, current.time_zone):
                current.last_scheduled = None  # counted from ``updated`` again
            current.recurrence, current.time_zone, current.overlap = schedule.recurrence.text, time_zone, overlap
            current.updated = now
            s.flush()
            row = current
        self.jobs.record_schedule(row, "changed", "info", f"Recurring job {row.name!r} changed")
        return row

    def delete(self, row: JobSchedule) -> None:
        with session_scope(self.db_url) as s:
            s.execute(delete(JobSchedule).where(JobSchedule.id == row.id))
        self.jobs.record_schedule(row, "deleted", "info", f"Recurring job {row.name!r} deleted")

    def runs(self, schedule_id: int, limit: int = 20) -> list[ScheduleRun]:
        q = (select(ScheduleRun).where(ScheduleRun.schedule_id == schedule_id)
             .order_by(ScheduleRun.scheduled.desc()).limit(limit))
        with read_scope(self.db_url) as s:
            return list(s.scalars(q))

    def next_times(self, row: JobSchedule, now: datetime | None = None, count: int = 5) -> list[datetime]:
        if row.recurrence == INACTIVE:
            return []
        schedule = Schedule.parse(row.recurrence, row.time_zone, row.overlap)
        after = max(filter(None, [utc(now or utcnow()), utc(row.last_scheduled)]))
        return [t.astimezone(schedule.zone) for t in next_runs(schedule, after, count)]

    def as_json(self, row: JobSchedule, viewer: Viewer | None = None, with_runs: bool = False) -> dict:
        env = self.jobs.open_env(row.env_encrypted)
        owner = viewer is None or viewer.username == row.username
        data = {
            "id": row.id, "group": row.group, "username": row.username, "name": row.name,
            "command": row.command, "image": row.image, "instance_type": row.instance_type,
            "resource_group": row.resource_group or None,
            "env": env if owner else {k: "" for k in env}, "timeout": row.timeout, "datasets": row.dataset_picks,
            "recurrence": row.recurrence, "time_zone": row.time_zone, "overlap": row.overlap,
            "next_runs": [t.isoformat() for t in self.next_times(row)],
            "created": iso(row.created), "updated": iso(row.updated),
            "link": f"{self.jobs.hub_prefix}portal/schedules/{row.id}",
        }
        if with_runs:
            words = viewer.words if viewer is not None else str
            data["runs"] = [{"scheduled": iso(r.scheduled), "outcome": r.outcome, "job_id": r.job_id,
                             "reason": words(r.reason) or None} for r in self.runs(row.id)]
        return data
