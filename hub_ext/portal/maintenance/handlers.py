"""Maintenance page (hub admins only) and ``/hub/api/portal/maintenance/...``.

Recompute quota use and clean now are state changes: POST, XSRF-checked, recorded as
activities. The logic is in :mod:`hub_ext.maintenance`, run in a thread.
"""

from __future__ import annotations

import asyncio
import os

from jupyterhub import orm
from jupyterhub.scopes import needs_scope
from tornado import web

from ... import activity, maintenance
from ...maintenance import envs as maintenance_envs
from ...groups import group_policy
from ...quantities import format_age
from ...bodies import NoFields
from ...ledger import Ledger
from spawner.mixin import running_notebooks

from ..common.runner import runner_health, wake_runner

from ..common.base import PortalAPIHandler, PortalHandler
from ..common.latest import Latest

SCOPE = "admin:servers"  # hub admins only: the ledger and the runner span every group
RUNNER_HEALTH = Latest(ttl=10.0)  # the page shows the runner's last answer (the API asks it each time)
KIND = "maintenance"


class _Maintenance:
    def require_admin(self):
        if not self.current_user.admin:
            raise web.HTTPError(403, "Only administrators may run maintenance")

    def running_notebooks(self) -> set[str]:
        """``user/server`` of every server the hub records as running, or is starting now."""
        return running_notebooks(self.db, self.users)

    async def runner(self) -> dict:
        """Whether the runner service answers its health check, and when its last pass ended."""
        return await runner_health(self)

    def retention(self) -> dict:
        from ...services.runner_settings import Runner

        settings = Runner(config=self.hubfront.config)
        return {"retention_days": settings.retention_days, "keep_per_group": settings.keep_per_group}

    async def health(self, kept: bool = False) -> dict:
        """``kept``: the runner's last answer (the page: asked again in the background, its age said)."""
        queues = await asyncio.to_thread(maintenance.queues, self.db_url)
        if kept:  # (a runner that did not answer is asked again at once: it may just be starting)
            last = RUNNER_HEALTH.peek("runner")
            reading = await RUNNER_HEALTH.get("runner", self.runner, fresh=last is not None and not last.value["up"])
            runner = {**reading.value, "checked": format_age(reading.age)}
        else:
            runner = await self.runner()
        return {"runner": runner, "queues": queues, "retention": self.retention(),
                "culler": await asyncio.to_thread(culler_health, self.db_url, self.hubfront.config)}

    async def recompute(self) -> list[dict]:
        removed = await asyncio.to_thread(maintenance.recompute, Ledger(self.db_url), self.running_notebooks())
        activity.record(self.db_url, username=self.current_user.name, group=None, kind=KIND, action="recomputed",
                        status="ok", message=f"Quota use recomputed: {len(removed)} reservation(s) of workloads "
                                         "that no longer run removed")
        return removed

    async def clean(self) -> list[dict]:

        keep = self.retention()
        marked = await asyncio.to_thread(maintenance.mark_expired_jobs, self.db_url, keep["retention_days"],
                                         keep["keep_per_group"])
        if marked:
            wake_runner(self)
        activity.record(self.db_url, username=self.current_user.name, group=None, kind=KIND, action="cleaned",
                        status="ok", message=f"Clean now: {len(marked)} finished job(s) past the retention "
                                         "handed to the runner for removal")
        return marked


    def env_roots(self) -> list[str]:
        """Where environments are built: the spawner's and the runner's env_dir (both <data>/envs by default)."""
        config, default = self.hubfront.config, os.path.join(self.hubfront.data_dir, "envs")
        roots = [config[section].get("env_dir") if section in config else None
                 for section in ("LocalGroupSpawner", "Runner")]
        return list(dict.fromkeys(r or default for r in roots))

    def images(self) -> list:
        """Every image a workload may use: the catalog's and every group's own."""
        out = list(self.catalog.images)
        for group in self.db.query(orm.Group):
            out.extend(group_policy(group).group_images)
        return out

    async def environments(self) -> list[dict]:
        images, config, found = self.images(), self.hubfront.config, []
        for root in self.env_roots():
            envs = await asyncio.to_thread(maintenance_envs.environments, root, images, 3600.0, self.db_url, config)
            found += [{**env, "root": root} for env in envs]
        return found

    async def remove_environments(self) -> list[dict]:
        images, removed = self.images(), []
        for root in self.env_roots():
            removed += await asyncio.to_thread(maintenance_envs.remove_unused, root, images, 3600.0, self.db_url,
                                               self.hubfront.config)
        names = f": {', '.join(e['name'] for e in removed)}" if removed else ""
        activity.record(self.db_url, username=self.current_user.name, group=None, kind=KIND,
                        action="environments removed", status="ok",
                        message=f"{len(removed)} built environment(s) nothing uses removed{names}")
        return removed


def culler_health(db_url: str, config) -> dict:
    """The idle culler's last pass (hub_ext.lifecycle) and the platform's defaults it applies."""
    from ...lifecycle.records import last_passes
    from ...lifecycle.settings import Lifecycle
    from ...times import iso

    settings = Lifecycle(config=config)
    last = next(iter(last_passes(db_url, limit=1)), None)
    return {"interval": settings.interval, "idle_timeout": settings.idle_timeout, "max_age": settings.max_age,
            "last_pass": iso(last.at) if last else None,
            "servers": last.servers if last else 0, "warned": last.warned if last else 0,
            "stopped": last.stopped if last else 0, "seconds": round(last.seconds, 3) if last else None,
            "error": last.error if last else ""}


class MaintenancePage(_Maintenance, PortalHandler):
    """GET /hub/portal/maintenance."""

    @web.authenticated
    async def get(self):
        self.require_admin()
        await self.render_portal("portal/maintenance.html", health=await self.health(kept=True),
                                 environments=await self.environments())


class HealthAPI(_Maintenance, PortalAPIHandler):
    """GET /hub/api/portal/maintenance/health."""

    @needs_scope(SCOPE)
    async def get(self):
        self.require_admin()
        self.write_json(await self.health())


class RecomputeAPI(_Maintenance, PortalAPIHandler):
    """POST /hub/api/portal/maintenance/recompute."""

    @needs_scope(SCOPE)
    async def post(self):
        self.require_admin()
        self.body(NoFields)
        self.write_json({"removed": await self.recompute()})


class CleanAPI(_Maintenance, PortalAPIHandler):
    """POST /hub/api/portal/maintenance/clean."""

    @needs_scope(SCOPE)
    async def post(self):
        self.require_admin()
        self.body(NoFields)
        self.write_json({"marked": await self.clean(), **self.retention()})


class EnvironmentsAPI(_Maintenance, PortalAPIHandler):
    """GET /hub/api/portal/maintenance/environments: built environments and whether they are used."""

    @needs_scope(SCOPE)
    async def get(self):
        self.require_admin()
        self.write_json({"environments": await self.environments()})


class EnvironmentsCleanAPI(_Maintenance, PortalAPIHandler):
    """POST /hub/api/portal/maintenance/environments/clean: remove those nothing uses."""

    @needs_scope(SCOPE)
    async def post(self):
        self.require_admin()
        self.body(NoFields)
        self.write_json({"removed": await self.remove_environments()})


handlers = [
    (r"/portal/maintenance", MaintenancePage),
    (r"/api/portal/maintenance/health", HealthAPI),
    (r"/api/portal/maintenance/recompute", RecomputeAPI),
    (r"/api/portal/maintenance/clean", CleanAPI),
    (r"/api/portal/maintenance/environments", EnvironmentsAPI),
    (r"/api/portal/maintenance/environments/clean", EnvironmentsCleanAPI),
]
