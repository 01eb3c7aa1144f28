"""Notebooks page and the home Quick-launch panel."""

from __future__ import annotations

from urllib.parse import quote

from jupyterhub.scopes import needs_scope
from tornado import web

from hub_ext import activity
from hub_ext.ledger.workloads import notebook_id
from hub_ext.lifecycle.records import KeepRefused
from hub_ext.scopes import READ, WRITE
from hub_ext.groups import group_policy
from spawner.mixin import WORKLOAD_KIND
from spawner.plan import server_name_for

from ..common.base import PortalAPIHandler, PortalHandler, Refused
from ..home.panels import HomePanel, register_panel
from ..nav import MenuEntry, register_banner, register_menu
from .lifecycle import idle_views, keep_running, lifecycle_banners, page_idle_views
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
            idle=page_idle_views(self),
            group_server=group_server,
            launch_url=f"{self.hub.base_url}spawn/{quote(user.name)}/{group_server}" if group_server else None,
        )


class NotebooksAPIHandler(PortalAPIHandler):
    """GET /hub/api/portal/me/notebooks: what the culler saw of each of your running servers."""

    @needs_scope(READ)
    def get(self):
        views = idle_views(self.db_url, self.current_user.orm_user, self.catalog)
        self.write_json({"notebooks": [v.as_json() for _, v in sorted(views.items())]})


class KeepRunningAPIHandler(PortalAPIHandler):
    """POST /hub/api/portal/me/notebooks/{server}/keep: Keep running (the idle clock starts again)."""

    @needs_scope(WRITE)
    def post(self, server):
        user = self.current_user
        if server not in user.orm_user.orm_spawners:
            raise web.HTTPError(404, f"No notebook server {server}")
        try:
            view = keep_running(self.db_url, user.orm_user, server, self.catalog)
        except KeepRefused as exc:
            raise Refused(409, {"server": str(exc)}) from None
        title = next((g["display_name"] for g in self.nav().groups if g["name"] == view.group), view.group)
        activity.record(self.db_url, username=user.name, group=view.group or None, kind=WORKLOAD_KIND,
                        action="kept", message=f"Kept running: notebook in {title} now "
                        f"{view.stops[0].lower()}{view.stops[1:]} (extension {view.extensions} of {view.max_extensions})",
                        workload_id=notebook_id(user.name, server), link=f"{self.hub.base_url}portal/notebooks")
        self.write_json(view.as_json())


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
        "idle": page_idle_views(handler).get(server) if state == "running" else None,
        "progress_url": f"{handler.hub.base_url}spawn-pending/{user.escaped_name}/{server}"
        if state == "starting" else None,
    }


def _idle_view(handler):
    """The running card's idle warning, read for the page's banners already (the panel is kept while it is
    the same)."""
    view = page_idle_views(handler).get(server_name_for(handler.nav().group))
    return None if view is None else tuple(vars(view).items())


register_menu(MenuEntry("Notebooks", "portal/notebooks", "fa-book", shortcut="Launch a notebook"))
register_panel(HomePanel("quicklaunch", "portal/panels/quicklaunch.html", 20, _quick_launch_panel,
                         varies=_idle_view))

register_banner(lifecycle_banners)

handlers = [
    (r"/portal/notebooks", NotebooksHandler),
    (r"/api/portal/me/notebooks", NotebooksAPIHandler),
    (r"/api/portal/me/notebooks/([^/]+)/keep", KeepRunningAPIHandler),
]
