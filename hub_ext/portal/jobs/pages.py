"""Jobs and Recurring Jobs pages (thin: read the stores, render; every change goes through the REST API)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tornado import web

from ... import resource_groups
from ...datasets.picks import choices as dataset_choices, picked as picked_datasets
from ...images.resolve import usable_policy
from ...times import utc
from ...store.models_jobs import DONE_PHASES, Job, JobSchedule
from ..common.base import PortalHandler
from ..groups.settings_form import _duration_input
from ..nav import MenuEntry, register_menu
from ..preferences.prefs import timezone_names, user_zone
from ..common.member import viewer_of
from .service import job_store, schedule_store

# The badge of each phase (Bootstrap classes); the JavaScript uses the same table (static/jobs.js).
PHASE_BADGES = {
    "Pending": "text-bg-secondary", "Preparing": "text-bg-info", "Running": "text-bg-primary",
    "Succeeded": "hf-bg-succeeded", "Failed": "text-bg-danger", "Cancelled": "text-bg-warning",
}
# the presets of hub_ext.jobs.schedules: wall-clock times in the schedule's zone
RECURRENCE_PRESETS = (("inactive", "Inactive (only Run now)"), ("daily", "Daily at 04:00"),
                      ("weekly", "Weekly, Sundays at 04:00"), ("monthly", "Monthly, the 1st at 04:00"))


def local_time(value, zone, short: bool = False) -> str:
    """``2030-06-01 14:00:05 CEST`` (short: ``2030-06-01 14:00``, in lists that name the zone once):
    an ISO time (or datetime) from the API in the viewer's zone."""
    if not value:
        return ""
    dt = utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
    return dt.astimezone(zone).strftime("%Y-%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S %Z")


def zoned_time(value: str, zone_name: str) -> str:
    """``Wed 2030-06-05 02:30 JST``: a schedule's run time in the schedule's own zone."""
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = timezone.utc
    return datetime.fromisoformat(value).astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


class _JobsPage(PortalHandler):
    @property
    def store(self):
        return job_store(self)

    @property
    def viewer(self):
        return viewer_of(self.current_user.orm_user)

    def zone(self):
        return user_zone(self.db_url, self.current_user.name)

    def template_form(self, group) -> dict:
        """What the submit / create forms offer: the group's images and instance types, its defaults."""
        policy = usable_policy(group, self.db_url)  # built images as their version in use
        types = policy.allowed_instance_types(self.catalog)
        default_type = policy.default_instance(self.catalog)
        images = policy.allowed_images(self.catalog)
        default_image = next((im for im in images if default_type and im.supports(default_type)
                              and not im.unavailable), None)
        return {
            "group": group.name, "images": images, "instance_types": types,
            "resource_groups": resource_groups.allowed(policy, self.catalog),
            "default_type": default_type.name if default_type else "",
            "default_image": default_image.name if default_image else "",
            "default_timeout": _duration_input(policy.job_default_timeout),
            "member": group.name in self.viewer.member_of,
            "datasets": dataset_choices(self.db_url, group.name),
        }

    def common(self) -> dict:
        zone = self.zone()
        return {"zone_name": zone.key, "when": lambda v, short=False: local_time(v, zone, short), "badges": PHASE_BADGES,
                "duration_input": _duration_input, "picked_datasets": picked_datasets}


class JobsPageHandler(_JobsPage):
    """GET /hub/portal/jobs: the current group's jobs and the Submit job form."""

    @web.authenticated
    async def get(self):
        group = self.current_group()
        viewer = self.viewer
        store = self.store

        def data() -> dict:
            jobs = store.list(group.name, viewer, limit=50)
            positions = store.queue_positions(group.name) if any(j.phase == "Pending" for j in jobs) else {}
            return {"jobs": [store.as_json(j, viewer, positions.get(j.id)) for j in jobs],
                    "everyone": viewer.sees_all_of(group.name), "form": self.template_form(group)}

        await self.render_kept("portal/jobs.html", data, **self.common())


class JobPageHandler(_JobsPage):
    """GET /hub/portal/jobs/{id}: one job, its live log and artifacts."""

    @web.authenticated
    async def get(self, job_id):
        viewer = self.viewer
        store = self.store
        job = store.visible(self.parse_id(job_id, "job", Job.id, status=404), viewer)
        if job is None:
            raise web.HTTPError(404, f"No such job: {job_id}")
        position = store.queue_positions(job.group).get(job.id) if job.phase == "Pending" else None
        base = f"{self.hub.base_url}api/portal/jobs/{job.id}"
        await self.render_portal(
            "portal/job.html", job=store.as_json(job, viewer, position), api=base,
            may_change=viewer.may_change(job), may_delete=viewer.may_change(job) or self.current_user.admin,
            done_phases=DONE_PHASES, group_titles=viewer.group_titles, **self.common())


class SchedulesPageHandler(_JobsPage):
    """GET /hub/portal/schedules: the current group's recurring jobs and the create form."""

    @web.authenticated
    async def get(self):
        group = self.current_group()
        viewer = self.viewer
        schedules = schedule_store(self)
        zone = self.zone()
        await self.render_portal(
            "portal/schedules.html",
            schedules=[schedules.as_json(r, viewer) for r in schedules.list(group.name, viewer)],
            everyone=viewer.sees_all_of(group.name), form=self.template_form(group), presets=RECURRENCE_PRESETS,
            zones=timezone_names(), user_zone=zone.key, zoned=zoned_time, **self.common())


class SchedulePageHandler(_JobsPage):
    """GET /hub/portal/schedules/{id}: one recurring job, its next runs, runs and jobs."""

    @web.authenticated
    async def get(self, schedule_id):
        viewer = self.viewer
        schedules = schedule_store(self)
        row = schedules.visible(self.parse_id(schedule_id, "schedule", JobSchedule.id, status=404), viewer)
        if row is None:
            raise web.HTTPError(404, f"No such schedule: {schedule_id}")
        store = self.store
        jobs = store.list(row.group, viewer, schedule_id=row.id, limit=50)
        group = self.visible_group(row.group)
        await self.render_portal(
            "portal/schedule.html", schedule=schedules.as_json(row, viewer, with_runs=True),
            jobs=[store.as_json(j, viewer) for j in jobs], owner=row.username == self.current_user.name,
            may_delete=row.username == self.current_user.name or self.current_user.admin,
            form=self.template_form(group), presets=RECURRENCE_PRESETS, zones=timezone_names(),
            api=f"{self.hub.base_url}api/portal/schedules/{row.id}", zoned=zoned_time, **self.common())


register_menu(MenuEntry("Jobs", "portal/jobs", "fa-person-running", shortcut="Submit a job"))
register_menu(MenuEntry("Recurring Jobs", "portal/schedules", "fa-clock-rotate-left"))

handlers = [
    (r"/portal/jobs", JobsPageHandler),
    (r"/portal/jobs/([^/]+)", JobPageHandler),
    (r"/portal/schedules", SchedulesPageHandler),
    (r"/portal/schedules/([^/]+)", SchedulePageHandler),
]
