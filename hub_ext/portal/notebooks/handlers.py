"""Notebooks page and the home Quick-launch panel."""

from __future__ import annotations

from urllib.parse import quote

from tornado import web

from hub_ext import activity
from hub_ext.groups import group_policy
from spawner.mixin import WORKLOAD_KIND
from spawner.plan import server_name_for

from ..common.base import PortalHandler
from ..home.panels import HomePanel, register_panel
from ..nav import MenuEntry, register_menu
from .logic import quick_launches, server_rows


class NotebooksHandler(PortalHandler):
    """GET /hub/portal/notebooks: the user's servers with group, type, image and status."""

    @web.authenticated
    async def get(self):
        user = self.current_user
        nav = self.nav()
        group_server = server_name_for(nav.group) if nav.group else None
        await self.render_portal(
            "portal/notebooks.html",
            rows=server_rows(user, self.base_url, activity.latest_by_workload(
                self.db_url, username=user.name, kind=WORKLOAD_KIND)),
            group_server=group_server,
            launch_url=f"{self.hub.base_url}spawn/{quote(user.name)}/{group_server}" if group_server else None,
        )


def machine_gpus(handler) -> list[int] | None:
    """The GPUs this hub's spawner can hand out (None: a scheduler decides)."""
    spawner_class = handler.settings.get("spawner_class")
    ask = getattr(spawner_class, "machine_gpus", None)
    return ask(handler.settings["config"]) if ask else None


async def _quick_launch_panel(handler) -> dict:
    user = handler.current_user
    group = handler.visible_group(handler.nav().group)
    states = {name: "running" if sp.ready else "starting"
              for name, sp in user.spawners.items() if sp.ready or sp.pending == "spawn"}
    policy = group_policy(group)
    buttons = quick_launches(
        snapshot=handler.ledger_snapshot(group.name), catalog=handler.catalog, policy=policy,
        group=group.name, username=user.name, hub_base_url=handler.hub.base_url, states=states,
        machine_gpus=machine_gpus(handler),
    )
    server = server_name_for(group.name)
    state = states.get(server)
    reasons = {b.reason for b in buttons}
    shared = reasons.pop() if len(reasons) == 1 else ""  # said once, not under every button
    default = policy.default_instance(handler.catalog)
    return {
        "buttons": buttons, "group": group.name, "state": state,
        "shared_reason": "" if state else shared,  # the running/starting line above says it already
        "per_button": not shared,
        "default_type": default.title if default else None,
        "running_url": user.server_url(server) if state == "running" else None,  # subdomain_host: its host
        "progress_url": f"{handler.hub.base_url}spawn-pending/{user.escaped_name}/{server}"
        if state == "starting" else None,
    }


register_menu(MenuEntry("Notebooks", "portal/notebooks", "fa-book", shortcut="Launch a notebook"))
register_panel(HomePanel("quicklaunch", "portal/panels/quicklaunch.html", 20, _quick_launch_panel))

handlers = [(r"/portal/notebooks", NotebooksHandler)]
