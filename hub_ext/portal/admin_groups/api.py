"""The Groups console's REST API (hub admins): list, create, rename and delete groups, add and remove members
and group admins. A group's policy is changed with ``PATCH …/groups/{group}/policy`` (portal.groups).

Every change needs the ``admin:groups`` scope, as the hub's own group API does, and (from a browser) the
XSRF header.
"""

from __future__ import annotations

from jupyterhub.scopes import needs_scope
from tornado import web

from spawner.mixin import running_notebooks

from ... import activity
from ...groups import GroupExists, all_groups, create_group, delete_group, find_group, group_policy, store_policy
from ...ledger import Ledger
from ...policy import GroupPolicy
from ..activities.feed import GROUP_KIND
from ..common.base import PortalAPIHandler
from ..users_admin import users
from . import console
from .requests import GroupCreate, GroupRename, MemberAdd, MemberChange

SCOPE = "admin:groups"
KIND = GROUP_KIND  # its activity lines are about the group's id: shown as recorded


class _Console:
    """What the console's handlers (pages and API) share."""

    def hub_notebooks(self) -> set[str]:
        return running_notebooks(self.db, self.users)

    def group_or_404(self, name: str):
        group = find_group(self.db, name)
        if group is None:
            raise web.HTTPError(404, f"No such group: {name}")
        return group

    def membership_managed_elsewhere(self) -> None:
        if getattr(self.authenticator, "manage_groups", False):
            raise web.HTTPError(403, "Group membership is managed by the identity provider")

    def record(self, group: str, action: str, message: str) -> None:
        activity.record(self.db_url, username=self.current_user.name, group=group, kind=KIND, action=action,
                        message=f"{message} (by {self.current_user.name})")


class GroupsAPI(_Console, PortalAPIHandler):
    """GET (every group, members or not) and POST (create one): /hub/api/portal/admin/groups."""

    @needs_scope(SCOPE)
    def get(self):
        ledger = Ledger(self.db_url)
        self.write_json({"groups": [console.group_row(g, self.catalog, ledger) for g in all_groups(self.db)]})

    @needs_scope(SCOPE)
    def post(self):
        body = self.body(GroupCreate)
        try:
            group = create_group(self.db, body.name, GroupPolicy(display_name=body.display_name))
        except GroupExists as exc:
            self.field_error({"name": str(exc)}, 409)
        self.record(group.name, "created", f"Group {group.name} created")
        self.set_status(201)
        self.write_json(console.group_row(group, self.catalog, Ledger(self.db_url)))


class GroupAPI(_Console, PortalAPIHandler):
    """GET (with what runs in it), PATCH (rename: its display name), DELETE (only while nothing runs in it):
    /hub/api/portal/admin/groups/{group}."""

    @needs_scope(SCOPE)
    def get(self, group_name):
        group = self.group_or_404(group_name)
        row = console.group_row(group, self.catalog, Ledger(self.db_url))
        row["running"] = console.running_workloads(self.db_url, group.name, self.hub_notebooks())
        row["policy"] = group_policy(group).model_dump(mode="json")
        self.write_json(row)

    @needs_scope(SCOPE)
    def patch(self, group_name):
        group = self.group_or_404(group_name)
        body = self.body(GroupRename)
        before = group_policy(group).display_name
        store_policy(self.db, group, group_policy(group).model_copy(update={"display_name": body.display_name}))
        self.record(group.name, "renamed", f"Group {group.name} renamed from {before or group.name!r} to "
                                           f"{body.display_name or group.name!r}")
        self.write_json(console.group_row(group, self.catalog, Ledger(self.db_url)))

    @needs_scope(SCOPE)
    def delete(self, group_name):
        group = self.group_or_404(group_name)
        running = console.running_workloads(self.db_url, group.name, self.hub_notebooks())
        if running:
            self.field_error({"group": console.refusal(group.name, running)}, 409)
        delete_group(self.db, group)
        self.record(group_name, "deleted", f"Group {group_name} deleted")
        self.set_status(204)
        self.finish()


def _membership(group) -> dict:
    return {"group": group.name, "members": sorted(u.name for u in group.users),
            "admins": list(group_policy(group).admins)}


def _set_admin(handler, group, user, admin: bool) -> None:
    """Make a member one of the group's admins, or not, recorded in their activities."""
    admins = [a for a in group_policy(group).admins if a != user.name] + ([user.name] if admin else [])
    users.set_group_admins(handler.db, group.name, admins)
    users.record(handler.db_url, actor=handler.current_user.name, username=user.name, group=group.name,
                 action="made group admin" if admin else "group admin removed",
                 message=f"{user.name} {'made' if admin else 'no longer'} an admin of group {group.name}")


class MembersAPI(_Console, PortalAPIHandler):
    """POST /hub/api/portal/admin/groups/{group}/members: add a hub user (``admin``: as a group admin too)."""

    @needs_scope(SCOPE)
    def post(self, group_name):
        self.membership_managed_elsewhere()
        group = self.group_or_404(group_name)
        body = self.body(MemberAdd)
        user = self.find_user(body.user.strip())
        if user is None:
            self.field_error({"user": f"no hub user is called {body.user.strip()!r}"})
        member = any(u.name == user.name for u in group.users)
        was_admin = member and user.name in group_policy(group).admins
        if member and (was_admin or not body.admin):
            self.field_error({"user": f"{user.name} is already a {'group admin' if was_admin else 'member'} "
                                      f"of {group.name}"}, 409)
        added = users.join_group(self.db, user.orm_user, group.name, self.db_url)
        if added:
            users.record(self.db_url, actor=self.current_user.name, username=user.name, group=group.name,
                         action="added to group", message=f"{user.name} added to group {group.name}")
        if body.admin and not was_admin:
            _set_admin(self, group, user, True)
        self.set_status(201 if added else 200)
        self.write_json(_membership(group))


class MemberAPI(_Console, PortalAPIHandler):
    """PATCH (group admin or not) and DELETE (out of the group, and off its admins):
    /hub/api/portal/admin/groups/{group}/members/{user}."""

    def _member(self, group_name, username):
        group = self.group_or_404(group_name)
        user = self.find_user(username)
        if user is None or all(u.name != username for u in group.users):
            raise web.HTTPError(404, f"{username} is not a member of group {group.name}")
        return group, user

    @needs_scope(SCOPE)
    def patch(self, group_name, username):
        group, user = self._member(group_name, username)
        body = self.body(MemberChange)
        _set_admin(self, group, user, body.admin)
        self.write_json(_membership(group))

    @needs_scope(SCOPE)
    def delete(self, group_name, username):
        self.membership_managed_elsewhere()
        group, user = self._member(group_name, username)
        users.leave_group(self.db, user.orm_user, group.name)
        users.record(self.db_url, actor=self.current_user.name, username=user.name, group=group.name,
                     action="removed from group", message=f"{user.name} removed from group {group.name}")
        self.write_json(_membership(group))


handlers = [
    (r"/api/portal/admin/groups", GroupsAPI),
    (r"/api/portal/admin/groups/([^/]+)", GroupAPI),
    (r"/api/portal/admin/groups/([^/]+)/members", MembersAPI),
    (r"/api/portal/admin/groups/([^/]+)/members/([^/]+)", MemberAPI),
]
