"""System Resources page and GET /hub/api/portal/system/resources."""

from __future__ import annotations

import asyncio

from jupyterhub import orm
from jupyterhub.scopes import needs_scope
from tornado import web

from ... import license as lic
from ...scopes import READ
from ..common.base import PortalAPIHandler, PortalHandler
from ..nav import Banner, MenuEntry, register_banner, register_menu
from .resources import admin_view, host_metrics, system_settings, user_view


class _ResourcesMixin:
    def running_sessions(self, user_id: int | None = None) -> int:
        q = self.db.query(orm.Spawner).filter(orm.Spawner.server_id.isnot(None))
        if user_id is not None:
            q = q.filter(orm.Spawner.user_id == user_id)
        return q.count()

    async def resources(self) -> dict:
        user = self.current_user
        if not user.admin:
            return user_view(self.running_sessions(user.orm_user.id))
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
    from ...isolation import Isolation
    from ...settings import Hubfront

    status = Isolation.instance(config=Hubfront.instance().config).status()
    return [Banner(id=f"isolation-{i}", text=text, level="danger") for i, text in enumerate(status.warnings)]


register_menu(MenuEntry("System Resources", "portal/system", "fa-server"))
register_banner(isolation_banners)

handlers = [
    (r"/portal/system", SystemPageHandler),
    (r"/api/portal/system/resources", SystemAPIHandler),
]
