"""System Resources page and GET /hub/api/portal/system/resources."""

from __future__ import annotations

import asyncio

from jupyterhub import orm
from jupyterhub.scopes import needs_scope
from tornado import web

from ... import license as lic, mode
from ...groups import group_policy
from ...isolation import Isolation
from ...ledger import Ledger
from ...ledger.workloads import JOB
from ...scopes import READ
from ..common.base import PortalAPIHandler, PortalHandler
from ..nav import Banner, MenuEntry, register_banner, register_menu
from ..usage.logic import dashboard
from .pods import job_handles, kube_session_rows, notebook_pods, places_of
from .resources import admin_view, host_metrics, system_settings, user_view
from .sessions import session_rows


class _ResourcesMixin:
    def running_sessions(self) -> int:
        return self.db.query(orm.Spawner).filter(orm.Spawner.server_id.isnot(None)).count()

    async def member_view(self) -> dict:
        """What the caller holds in each of their groups, and each of their sessions' live use."""
        user = self.current_user
        policies = {g.name: group_policy(g) for g in user.orm_user.groups}
        titles = {name: policy.display_name or name for name, policy in policies.items()}
        allocation = [{**dashboard(self.ledger_snapshot(name), user.name, policy, False), "title": titles[name]}
                      for name, policy in sorted(policies.items(), key=lambda item: titles[item[0]].lower())]
        held = await asyncio.to_thread(Ledger(self.db_url).reservations, username=user.name)
        config = self.settings["config"]
        if mode.kubernetes(config):
            rows, unavailable = await self.pod_rows(held, titles)
        else:
            rows, unavailable = await asyncio.to_thread(session_rows, held, titles,
                                                        Isolation.instance(config=config))
        return user_view(rows, allocation, unavailable)

    async def pod_rows(self, held, titles: dict[str, str]) -> tuple[list[dict], str]:
        """On Kubernetes: each session's pods (``pods``) and their use from the cluster's metrics API."""
        user = self.current_user
        jobs = await asyncio.to_thread(job_handles, self.db_url, [r.workload_id for r in held if r.kind == JOB])
        places = places_of(held, user.name, notebook_pods(user.name, dict(user.spawners.items())), jobs,
                           system_settings().workload_namespace)
        return await kube_session_rows(held, titles, places, config=self.settings["config"])

    async def resources(self) -> dict:
        if not self.current_user.admin:
            return await self.member_view()
        metrics = await asyncio.to_thread(host_metrics)
        return admin_view(lic.count_nodes(lic.settings()), self.running_sessions(), metrics)


class SystemPageHandler(_ResourcesMixin, PortalHandler):
    @web.authenticated
    async def get(self):
        await self.render_portal("portal/system.html", data=await self.resources(),
                                 refresh_ms=int(system_settings().refresh_seconds * 1000))


class SystemAPIHandler(_ResourcesMixin, PortalAPIHandler):
    @needs_scope(READ)
    async def get(self):
        self.write_json(await self.resources())


def isolation_banners(orm_user, nav, db_url) -> list[Banner]:
    """Admins are told on every page when workloads are not isolated or not confined."""
    if not nav.is_admin:
        return []
    from ...settings import Hubfront

    status = Isolation.instance(config=Hubfront.instance().config).status()
    return [Banner(id=f"isolation-{i}", text=text, level="danger") for i, text in enumerate(status.warnings)]


register_menu(MenuEntry("System Resources", "portal/system", "fa-server"))
register_banner(isolation_banners)

handlers = [
    (r"/portal/system", SystemPageHandler),
    (r"/api/portal/system/resources", SystemAPIHandler),
]
