"""The home's Start menu (Backend.AI): a Start button opening the launch dialog, and shortcuts.

The dialog is the launch form JupyterHub's spawn page shows (``spawner.form``: the group's
instance types, those over the remaining quota disabled with the ledger's reason, and its
images), for the group picked in the dialog, with the remaining quota beside it. It posts
to the same spawn URL as the Notebooks page, so the launch goes through the same checks.
``GET /hub/portal/start?group=<g>`` answers the dialog's body for a group (the dialog
fetches it when the group changes).
"""

from __future__ import annotations

from urllib.parse import quote

from tornado import web

from hub_ext.activity import name_groups
from hub_ext.datasets.picks import choices as dataset_choices
from hub_ext.groups import display_name, group_policy
from hub_ext.ledger import Request
from hub_ext.resource_groups import allowed as allowed_groups, summary
from spawner.form import remaining_rows, render_options_form
from spawner.gpus import machine_reason
from spawner.plan import server_name_for

from ..common.base import PortalHandler
from .panels import home_key, part

FILES_PAGE = "portal/files"
USERS_PAGE = "portal/admin/users"
MAINTENANCE_PAGE = "portal/maintenance"
APPS_PAGE = "portal/apps"


def shortcuts(nav) -> list[dict]:
    """Upload files and Apps (where their pages are in the menu), and for admins Users and Maintenance."""
    out = []
    if any(entry.path == FILES_PAGE for entry in nav.menu):
        out.append({"id": "upload", "title": "Upload files", "icon": "fa-upload", "path": FILES_PAGE})
    if any(entry.path == APPS_PAGE for entry in nav.menu):
        out.append({"id": "apps", "title": "Apps", "icon": "fa-puzzle-piece", "path": APPS_PAGE})
    if nav.is_admin:
        out.append({"id": "users", "title": "Users", "icon": "fa-users", "path": USERS_PAGE})
        out.append({"id": "maintenance", "title": "Maintenance", "icon": "fa-screwdriver-wrench",
                    "path": MAINTENANCE_PAGE})
    return out


def launch_dialog(handler, group_name: str) -> dict:
    """The dialog's body for one of the caller's groups (404 for another)."""
    from ..notebooks.handlers import machine_gpus

    user = handler.current_user
    group = next((g for g in user.orm_user.groups if g.name == group_name), None)
    if group is None:
        raise web.HTTPError(404, f"No such group: {group_name}")
    policy, catalog = group_policy(group), handler.catalog
    snapshot = handler.ledger_snapshot(group.name)
    types = policy.allowed_instance_types(catalog)
    titles = {group.name: display_name(group)}  # what stands in the way, naming the group as people know it
    shortfalls = {it.name: [name_groups(line, titles) for line in snapshot.shortfalls(
        user.name, Request(cpu=it.cpu, memory=it.memory, gpu=it.gpu), policy.quota, policy.user_quota)]
        for it in types}
    inventory = machine_gpus(handler)
    unavailable = {it.name: machine_reason(it.gpu, inventory) for it in types}
    server = server_name_for(group.name)
    running = server in user.spawners and (user.spawners[server].ready or user.spawners[server].pending)
    return {
        "group": group.name,
        "form": render_options_form(group=group.name, policy=policy, catalog=catalog, shortfalls=shortfalls,
                                    unavailable={k: v for k, v in unavailable.items() if v}, selected={},
                                    datasets=dataset_choices(handler.db_url, group.name),
                                    resource_groups=[summary(rg) for rg in allowed_groups(policy, catalog)],
                                    remaining=remaining_rows(snapshot, user.name, policy)),
        "action": f"{handler.hub.base_url}spawn/{quote(user.name)}/{server}",
        "running": bool(running),
        "server_url": user.server_url(server),  # on the user's subdomain with subdomain_host
    }


async def start_menu(handler, nav) -> dict:
    """The Start button's groups and shortcuts, and the dialog's body for the group in focus (a home part,
    kept while what it shows is unchanged)."""

    async def dialog():
        return {"dialog": launch_dialog(handler, nav.group)}

    body = await part(handler, ("start", home_key(handler)), "portal/home_start_dialog.html", dialog)
    return {"groups": nav.groups, "dialog_html": body, "shortcuts": shortcuts(nav)}


class StartDialogHandler(PortalHandler):
    """GET /hub/portal/start?group=<g>: the launch dialog's body for that group (an HTML fragment)."""

    @web.authenticated
    async def get(self):
        dialog = launch_dialog(self, self.get_query_argument("group", ""))
        html = await self.render_template("portal/home_start_dialog.html", dialog=dialog)
        self.finish(html)
