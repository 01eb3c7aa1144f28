"""The Apps page: /hub/portal/apps, the catalog and the current group's installed apps."""

from __future__ import annotations

from tornado import web

from ... import resource_groups
from ...apps import sizing
from ...apps.origin import app_origin
from ...apps.records import may_change
from ...apps.registry import bound_app
from ...groups import group_policy
from ..common.base import PortalHandler
from ..common.member import viewer_of
from ..nav import MenuEntry, register_menu
from .service import app_store, apps_origin, catalog_of, template_of


class AppsPageHandler(PortalHandler):
    """GET: the template catalog (Install forms for the group's admins) and the installed apps."""

    @web.authenticated
    async def get(self):
        group = self.current_group()
        viewer = viewer_of(self.current_user.orm_user)
        policy = group_policy(group)

        def data() -> dict:
            store = app_store(self)
            bound = bound_app(policy, group.name)
            apps = [{**store.as_json(r, viewer, template_of(self, r.template), apps_origin(self)),
                     "bound_registry": r.name == bound} for r in store.list(group.name)]
            templates = list(catalog_of(self).values())
            # per template: every instance type the group may use, those too small disabled with the reason,
            # and the default (the group's when it holds the app, else the first that does)
            offered = {t.name: sizing.offers(t, policy, self.catalog) for t in templates}
            defaults = {t.name: getattr(sizing.default_for(t, policy, self.catalog), "name", "") for t in templates}
            for app in apps:
                if app["template"] not in offered:
                    offered[app["template"]] = sizing.offers(template_of(self, app["template"]), policy, self.catalog)
            return {"templates": templates, "apps": apps, "offered": offered, "default_types": defaults,
                    "resource_groups": resource_groups.allowed(policy, self.catalog)}

        await self.render_kept(
            "portal/apps.html", data, group=group.name, may_change=may_change(viewer, group.name),
            api=f"{self.hub.base_url}api/portal/groups/{group.name}/apps",
            app_address=app_origin(apps_origin(self), group.name, "APP").replace("APP", "<app>", 1) + "/")


register_menu(MenuEntry("Apps", "portal/apps", "fa-puzzle-piece", shortcut="Open apps"))

handlers = [(r"/portal/apps", AppsPageHandler)]
