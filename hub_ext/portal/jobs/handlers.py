"""Jobs and recurring jobs: the REST API (thin: parse, check permission, call the stores).

Every endpoint answers 404 for a job, schedule or group the caller may not
see, whatever the reason, so ids of other groups' work leak nothing.
"""

from __future__ import annotations

import asyncio

from urllib.parse import quote

from jupyterhub.scopes import needs_scope
from tornado import web

from ...images.resolve import usable_policy
from ...bodies import NoFields
from ...jobs import logs as logs_mod
from ...jobs import submission
from ...jobs.requests import (JobSubmit, JobTemplate, RequestError, ScheduleCreate, SchedulePatch)
from ...storage.zipstream import download_headers
from ...scopes import READ, WRITE
from ...store.models_jobs import PHASES, Job, JobSchedule
from ..common.logstream import LogAPI
from ..preferences.prefs import user_zone
from ..common.member import MemberAPIHandler
from ..common.runner import wake_runner
from .service import job_store, schedule_store


class _JobsAPI(MemberAPIHandler):
    @property
    def store(self):
        return job_store(self)

    def job(self, job_id: str) -> Job:
        job = self.store.visible(self.parse_id(job_id, "job", Job.id, status=404), self.viewer)
        if job is None:
            raise web.HTTPError(404, f"No such job: {job_id}")
        return job

    def resolved(self, template: JobTemplate, group):
        """The template checked against the group (``jobs.submission``); a refusal names the field."""
        return submission.resolved(self.db_url, template, usable_policy(group, self.db_url), self.catalog,
                                   group.name)

    def submit(self, group, template: JobTemplate, **origin):
        row = submission.submit(self.store, template, group=group.name, username=self.current_user.name,
                                policy=usable_policy(group, self.db_url), catalog=self.catalog, **origin)
        if not row.done:
            wake_runner(self, "jobs")
        return row

    def job_json(self, job: Job) -> dict:
        position = self.store.queue_positions(job.group).get(job.id) if job.phase == "Pending" else None
        return self.store.as_json(job, self.viewer, position)


class GroupJobsAPIHandler(_JobsAPI):
    """GET (list) and POST (submit): /hub/api/portal/groups/{group}/jobs."""

    @needs_scope(READ)
    def get(self, group_name):
        group = self.visible_group(group_name)
        phase = self.get_query_argument("phase", None)
        if phase is not None and phase not in PHASES:
            self.field_error({"phase": f"must be one of {', '.join(PHASES)}"})
        limit = self.parse_id(self.get_query_argument("limit", "50"), "limit", None)
        if limit > 500:
            self.field_error({"limit": "must be a whole number from 1 to 500"})
        before = self.parse_id(self.get_query_argument("before", None), "before", Job.id, optional=True)
        user = self.get_query_argument("user", None) or None
        viewer = self.viewer
        jobs = self.store.list(group.name, viewer, username=user, phase=phase, limit=limit, before=before)
        positions = self.store.queue_positions(group.name) if any(j.phase == "Pending" for j in jobs) else {}
        self.write_json({"group": group.name, "jobs": [self.store.as_json(j, viewer, positions.get(j.id))
                                                        for j in jobs]})

    @needs_scope(WRITE)
    async def post(self, group_name):
        group = self.member_group(group_name)
        row = self.submit(group, self.body(JobSubmit))
        await asyncio.sleep(0)  # the runner's wake-up leaves now, not after this answer is written
        self.set_status(201)
        self.write_json(self.job_json(row))


class JobAPIHandler(_JobsAPI):
    """GET, DELETE: /hub/api/portal/jobs/{id}."""

    @needs_scope(READ)
    def get(self, job_id):
        self.write_json(self.job_json(self.job(job_id)))

    @needs_scope(WRITE)
    def delete(self, job_id):
        job = self.job(job_id)
        if not (self.viewer.may_change(job) or self.current_user.admin):
            raise web.HTTPError(403, "Only the job's owner deletes it")
        self.store.delete(job)
        wake_runner(self, "jobs")
        self.set_status(204)
        self.finish()


class CancelAPIHandler(_JobsAPI):
    @needs_scope(WRITE)
    def post(self, job_id):
        job = self.job(job_id)
        if job.done:
            self.field_error({"phase": f"the job has already ended ({job.phase})"}, 409)
        job = self.store.cancel(job, self.current_user.name)
        wake_runner(self, "jobs")
        self.set_status(202)
        self.write_json(self.job_json(job))


class RerunAPIHandler(_JobsAPI):
    """POST: a new job with the same template, in the same group, submitted by the owner."""

    @needs_scope(WRITE)
    def post(self, job_id):
        job = self.job(job_id)
        if not self.viewer.may_change(job):
            raise web.HTTPError(403, "Only the job's owner re-runs it (a job runs as its owner)")
        self.body(NoFields)
        group = self.member_group(job.group)
        row = self.submit(group, submission.template_of(self.store, job), rerun_of=job.id)
        if row is not None:
            self.set_status(201)
            self.write_json(self.job_json(row))


class LogAPIHandler(LogAPI, _JobsAPI):
    """GET: the job's output (``LogAPI``); followed until the job ends."""

    owner = logs_mod.JOBS

    def log_of(self, job_id):
        job = self.job(job_id)

        def ended(offset: int) -> bool:
            current = self.store.get(job.id)
            return current is None or (current.done and offset >= current.log_size)

        return job.id, f"job-{job.id}.log", ended


class ArtifactsAPIHandler(_JobsAPI):
    """GET: the list of artifacts; GET …/artifacts/{path}: one file."""

    @needs_scope(READ)
    def get(self, job_id, path=None):
        job = self.job(job_id)
        if path is None:
            base = f"{self.hub.base_url}api/portal/jobs/{job.id}/artifacts/"
            self.write_json({"job": job.id, "note": job.artifacts_note or None, "artifacts": [
                {"path": p, "size": n, "url": base + quote(p)} for p, n in self.store.artifacts(job.id)]})
            return
        data = self.store.artifact(job.id, path)
        if data is None:
            raise web.HTTPError(404, f"No such artifact: {path}")
        # always a download, never rendered: a job's files must not run as pages of the hub
        download_headers(self, "application/octet-stream", path.rsplit("/", 1)[-1])
        self.finish(data)


# -- recurring jobs -----------------------------------------------------------------


class _SchedulesAPI(_JobsAPI):
    @property
    def schedules(self):
        return schedule_store(self)

    def schedule(self, schedule_id: str) -> JobSchedule:
        row = self.schedules.visible(self.parse_id(schedule_id, "schedule", JobSchedule.id, status=404), self.viewer)
        if row is None:
            raise web.HTTPError(404, f"No such schedule: {schedule_id}")
        return row

    def owned(self, row: JobSchedule):
        if row.username != self.current_user.name:
            raise web.HTTPError(403, "Only the schedule's owner changes it (its jobs run as the owner)")


class GroupSchedulesAPIHandler(_SchedulesAPI):
    @needs_scope(READ)
    def get(self, group_name):
        group = self.visible_group(group_name)
        viewer = self.viewer
        self.write_json({"group": group.name, "schedules": [self.schedules.as_json(r, viewer)
                                                             for r in self.schedules.list(group.name, viewer)]})

    @needs_scope(WRITE)
    def post(self, group_name):
        group = self.member_group(group_name)
        body = self.body(ScheduleCreate)
        job = self.resolved(body, group)
        zone = body.time_zone or user_zone(self.db_url, self.current_user.name).key
        try:
            row = self.schedules.create(group=group.name, username=self.current_user.name, job=job,
                                        recurrence=body.recurrence, time_zone=zone, overlap=body.overlap)
        except RequestError as exc:
            self.field_error(exc.errors)
        wake_runner(self, "jobs")
        self.set_status(201)
        self.write_json(self.schedules.as_json(row, self.viewer, with_runs=True))


class ScheduleAPIHandler(_SchedulesAPI):
    @needs_scope(READ)
    def get(self, schedule_id):
        self.write_json(self.schedules.as_json(self.schedule(schedule_id), self.viewer, with_runs=True))

    @needs_scope(WRITE)
    def patch(self, schedule_id):
        row = self.schedule(schedule_id)
        self.owned(row)
        body = self.body(SchedulePatch)
        changes = body.model_dump(exclude_unset=True)
        nulls = [k for k, v in changes.items() if v is None and k not in ("image", "instance_type", "timeout")]
        if nulls:
            self.field_error({k: "may not be null" for k in nulls})
        job = None
        template_fields = set(JobTemplate.model_fields) & set(changes)
        if template_fields:
            current = submission.template_of(self.store, row).model_dump()
            current.update({k: changes[k] for k in template_fields})
            job = self.resolved(JobTemplate(**current), self.member_group(row.group))
        try:
            row = self.schedules.update(row, changes, job)
        except RequestError as exc:
            self.field_error(exc.errors)
        wake_runner(self, "jobs")
        self.write_json(self.schedules.as_json(row, self.viewer, with_runs=True))

    @needs_scope(WRITE)
    def delete(self, schedule_id):
        row = self.schedule(schedule_id)
        if row.username != self.current_user.name and not self.current_user.admin:
            raise web.HTTPError(403, "Only the schedule's owner deletes it")
        self.schedules.delete(row)
        self.set_status(204)
        self.finish()


class RunNowAPIHandler(_SchedulesAPI):
    """POST: an ordinary job from the schedule's template, now."""

    @needs_scope(WRITE)
    def post(self, schedule_id):
        row = self.schedule(schedule_id)
        self.owned(row)
        self.body(NoFields)
        group = self.member_group(row.group)
        job = self.submit(group, submission.template_of(self.store, row))
        if job is not None:
            self.set_status(201)
            self.write_json(self.job_json(job))


handlers = [
    (r"/api/portal/groups/([^/]+)/jobs", GroupJobsAPIHandler),
    (r"/api/portal/jobs/([^/]+)", JobAPIHandler),
    (r"/api/portal/jobs/([^/]+)/cancel", CancelAPIHandler),
    (r"/api/portal/jobs/([^/]+)/rerun", RerunAPIHandler),
    (r"/api/portal/jobs/([^/]+)/log", LogAPIHandler),
    (r"/api/portal/jobs/([^/]+)/artifacts", ArtifactsAPIHandler),
    (r"/api/portal/jobs/([^/]+)/artifacts/(.+)", ArtifactsAPIHandler),
    (r"/api/portal/groups/([^/]+)/schedules", GroupSchedulesAPIHandler),
    (r"/api/portal/schedules/([^/]+)", ScheduleAPIHandler),
    (r"/api/portal/schedules/([^/]+)/run", RunNowAPIHandler),
]
from .pages import handlers as _pages; handlers += _pages  # noqa: E402
