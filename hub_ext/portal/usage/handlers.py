"""Resource Dashboard: the home panel and GET /hub/api/portal/groups/{group}/usage."""

from __future__ import annotations

import asyncio

from jupyterhub.scopes import needs_scope

from hub_ext.groups import group_policy, is_group_admin
from hub_ext.ledger import Ledger
from hub_ext.scopes import READ

from ..base import PortalAPIHandler
from ..home.panels import HomePanel, register_panel
from .logic import dashboard


async def usage_for(handler, group_name: str) -> dict:
    group = handler.visible_group(group_name)
    user = handler.current_user.orm_user
    return await asyncio.to_thread(
        dashboard, Ledger(handler.db_url), group.name, user.name, group_policy(group), is_group_admin(user, group)
    )


class UsageAPIHandler(PortalAPIHandler):
    @needs_scope(READ)
    async def get(self, group_name):
        self.write_json(await usage_for(self, group_name))


async def _panel(handler) -> dict:
    return await usage_for(handler, handler.nav().group)


register_panel(HomePanel("resources", "portal/panels/resources.html", 30, _panel))

handlers = [(r"/api/portal/groups/([^/]+)/usage", UsageAPIHandler)]
