"""Resource Dashboard: the home panel and GET /hub/api/portal/groups/{group}/usage."""

from __future__ import annotations

from jupyterhub.scopes import needs_scope

from hub_ext.groups import group_policy, is_group_admin
from hub_ext.scopes import READ

from ..base import PortalAPIHandler
from ..home.panels import HomePanel, register_panel
from .logic import dashboard


def usage_for(handler, group_name: str) -> dict:
    group = handler.visible_group(group_name)
    user = handler.current_user.orm_user
    return dashboard(handler.ledger_snapshot(group.name), user.name, group_policy(group), is_group_admin(user, group))


class UsageAPIHandler(PortalAPIHandler):
    @needs_scope(READ)
    async def get(self, group_name):
        self.write_json(usage_for(self, group_name))


async def _panel(handler) -> dict:
    return usage_for(handler, handler.nav().group)


register_panel(HomePanel("resources", "portal/panels/resources.html", 30, _panel))

handlers = [(r"/api/portal/groups/([^/]+)/usage", UsageAPIHandler)]
