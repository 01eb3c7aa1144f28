"""The Groups console's pages: every group (hub admins) or the groups one administers, and one group's
policy form with its members. The pages only read; every change goes through the REST API
(static/admin_groups.js, with the page's XSRF token).

Which group a page shows is in its address: opening a group here never changes anyone's working group.
"""

from __future__ import annotations

from urllib.parse import quote

from jupyterhub import orm
from tornado import web

from ...groups import all_groups, group_policy, member_groups
from ...ledger import Ledger
from ...policy import RESOURCE_LABELS, RESOURCES
from ..common.base import PortalHandler
from . import console
from .api import _Console


class GroupsPage(_Console, PortalHandler):
    """GET /hub/portal/admin/groups."""

    @web.authenticated
    async def get(self):
        user = self.current_user.orm_user
        if user.admin:
            groups = all_groups(self.db)
        else:
            groups = [g for g in member_groups(user) if group_policy(g).is_admin(user.name)]
            if not groups:
                raise web.HTTPError(403, "Only hub administrators and group admins open the Groups console")
        ledger = Ledger(self.db_url)
        await self.render_portal(
            "portal/admin_groups.html", rows=[console.group_row(g, self.catalog, ledger) for g in groups],
            hub_admin=bool(user.admin), api=self.hub.base_url + "api/portal/admin/groups",
            page=self.hub.base_url + "portal/admin/groups", quote=quote)


class GroupPage(_Console, PortalHandler):
    """GET /hub/portal/admin/groups/{group}: the whole policy in one form, members and group admins."""

    @web.authenticated
    async def get(self, name):
        group = self.visible_group(name)  # a member sees their groups; a hub admin any
        self.require_group_admin(group)
        user = self.current_user.orm_user
        hub_admin = bool(user.admin)
        policy = group_policy(group)
        base = self.hub.base_url
        members = [{"name": u.name, "admin": u.name in policy.admins} for u in sorted(group.users, key=lambda u: u.name)]
        await self.render_portal(
            "portal/admin_group.html", group=group, policy=policy, hub_admin=hub_admin,
            row=console.group_row(group, self.catalog, Ledger(self.db_url)),
            choices=console.form_choices(policy, self.catalog), members=members,
            # completion for "add a member": every hub user not in the group yet
            candidates=[n for (n,) in self.db.query(orm.User.name).order_by(orm.User.name)
                        if n not in {m["name"] for m in members}] if hub_admin else [],
            running=console.running_workloads(self.db_url, group.name, self.hub_notebooks()) if hub_admin else [],
            # what a group's own admins change; every other field is the hub administrators'
            editable=(lambda field: hub_admin or field in console.GROUP_ADMIN_EDITS),
            idle_defaults=idle_defaults(self.hubfront.config),
            membership_elsewhere=bool(getattr(self.authenticator, "manage_groups", False)),
            resources=RESOURCES, labels={**RESOURCE_LABELS, "storage": "Storage"},
            policy_api=f"{base}api/portal/groups/{quote(group.name, safe='')}/policy",
            group_api=f"{base}api/portal/admin/groups/{quote(group.name, safe='')}",
            list_page=f"{base}portal/admin/groups")


handlers = [
    (r"/portal/admin/groups", GroupsPage),
    (r"/portal/admin/groups/([^/]+)", GroupPage),
]


def idle_defaults(config) -> dict[str, str]:
    """The platform's lifecycle defaults (c.Lifecycle), as the policy form's placeholders show them."""
    from ...lifecycle.settings import Lifecycle

    settings = Lifecycle(config=config)
    return {"idle_timeout": settings.idle_timeout, "warn_before": settings.warn_before, "max_age": settings.max_age,
            "max_extensions": str(settings.max_extensions)}
