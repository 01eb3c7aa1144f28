"""Resource Dashboard: the home panel and GET /hub/api/portal/groups/{group}/usage."""

from __future__ import annotations

import asyncio

from jupyterhub.scopes import needs_scope

from hub_ext.groups import group_policy, is_group_admin
from hub_ext.scopes import READ

from ..common.base import PortalAPIHandler
from ..home.panels import HomePanel, register_panel
from ...storage import usage as storage_usage
from ...storage.kube import hub_reaches_group_storage
from .logic import dashboard, storage_line


async def usage_for(handler, group_name: str) -> dict:
    group = handler.visible_group(group_name)
    user = handler.current_user.orm_user
    policy = group_policy(group)
    doc = dashboard(handler.ledger_snapshot(group.name), user.name, policy, is_group_admin(user, group))
    hubfront = handler.hubfront
    if hub_reaches_group_storage(hubfront.config):  # else the hub would measure a tree no workload uses
        used = await asyncio.to_thread(storage_usage.used, hubfront.data_dir, group.name, hubfront.db_url)
        doc["storage"] = storage_line(used, policy.quota.storage)
    return doc


class UsageAPIHandler(PortalAPIHandler):
    @needs_scope(READ)
    async def get(self, group_name):
        self.write_json(await usage_for(self, group_name))


async def _panel(handler) -> dict:
    return await usage_for(handler, handler.nav().group)


register_panel(HomePanel("resources", "portal/panels/resources.html", 30, _panel))

handlers = [(r"/api/portal/groups/([^/]+)/usage", UsageAPIHandler)]
