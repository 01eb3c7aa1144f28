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
from ... import resource_groups
from ...ledger import Ledger
from ...capacity import Capacity, ClusterCapacity, this_machine
from ..common.base import Refused
from ..notebooks.handlers import machine_gpus
from .logic import dashboard, resource_group_doc, storage_line


async def usage_for(handler, group_name: str, resource_group: str | None = None, measure: bool = True) -> dict:
    """The dashboard's document; ``measure=False`` (the home page): the storage figure last measured and its
    age, never measured while the page waits (:func:`hub_ext.storage.usage.latest` refreshes it behind)."""
    group = handler.visible_group(group_name)
    user = handler.current_user.orm_user
    policy = group_policy(group)
    doc = dashboard(handler.ledger_snapshot(group.name), user.name, policy, is_group_admin(user, group))
    hubfront = handler.hubfront
    if hub_reaches_group_storage(hubfront.config):  # else the hub would measure a tree no workload uses
        if measure:
            figure = await asyncio.to_thread(storage_usage.measured, hubfront.data_dir, group.name, hubfront.db_url)
        else:
            figure = storage_usage.latest(hubfront.data_dir, group.name, hubfront.db_url)
        used, measured_at = figure or (None, None)
        doc["storage"] = storage_line(used, policy.quota.storage, measured_at)
    choices = resource_groups.allowed(policy, handler.catalog)
    doc["resource_groups"] = [resource_groups.summary(rg) for rg in choices]
    chosen = next((rg for rg in choices if rg.name == resource_group), None) if resource_group else \
        (choices[0] if choices else None)
    if resource_group and chosen is None:
        raise Refused(400, {"resource_group": f"{resource_group!r} is not a resource group group {group.name} may use"})
    if chosen is not None:
        if len(resource_groups.available(handler.catalog)) == 1:  # everything runs there: the group's own use
            placed = handler.ledger_snapshot(group.name)
        else:
            placed = await asyncio.to_thread(Ledger(handler.db_url).placed_snapshot, group.name, chosen.name,
                                             chosen is choices[0])
        capacity = await capacity_of(handler, chosen)
        doc["resource_group"] = resource_group_doc(resource_groups.summary(chosen), capacity.doc(), placed, user.name)
    return doc


_cluster: ClusterCapacity | None = None


async def capacity_of(handler, rg) -> Capacity:
    """This machine's (the embedded default), or the resource group's nodes' (Kubernetes)."""
    global _cluster
    if rg is resource_groups.LOCAL:
        return this_machine(machine_gpus(handler))
    if _cluster is None:
        _cluster = ClusterCapacity(handler.settings["config"].KubeGroupSpawner.get("gpu_resource_name", "nvidia.com/gpu"))
    return await _cluster.of(rg)


class UsageAPIHandler(PortalAPIHandler):
    @needs_scope(READ)
    async def get(self, group_name):
        self.write_json(await usage_for(self, group_name, self.get_query_argument("resource_group", None)))


async def _panel(handler) -> dict:
    return await usage_for(handler, handler.nav().group, measure=False)


def _storage_figure(handler):
    """The panel shows the storage figure measured last (kept in memory, refreshed behind the page)."""
    hubfront = handler.hubfront
    if not hub_reaches_group_storage(hubfront.config):
        return None
    return storage_usage.latest(hubfront.data_dir, handler.nav().group, hubfront.db_url)


register_panel(HomePanel("resources", "portal/panels/resources.html", 30, _panel, varies=_storage_figure))

handlers = [(r"/api/portal/groups/([^/]+)/usage", UsageAPIHandler)]
