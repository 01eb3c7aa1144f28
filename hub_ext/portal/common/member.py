"""The API base of the workloads members of a group run (jobs, deployments, apps, files, datasets):
they run as members, so members act on them; and who the caller is, as the logic modules see it."""

from __future__ import annotations

from tornado import web

from ...groups import display_name, group_policy
from ...jobs.records import Viewer
from .base import PortalAPIHandler


def viewer_of(orm_user) -> Viewer:
    groups = list(orm_user.groups)
    return Viewer(
        username=orm_user.name, admin=bool(orm_user.admin),
        group_admin_of=frozenset(g.name for g in groups if group_policy(g).is_admin(orm_user.name)),
        member_of=frozenset(g.name for g in groups),
        group_titles={g.name: display_name(g) for g in groups},
    )


class MemberAPIHandler(PortalAPIHandler):
    """API of a group's workloads (jobs, deployments): they run as members, so members act on them."""

    @property
    def viewer(self) -> Viewer:
        return viewer_of(self.current_user.orm_user)

    def member_group(self, group_name: str):
        """The group, if the caller is a member; 404 otherwise."""
        group = self.visible_group(group_name)
        if group.name not in self.viewer.member_of:
            raise web.HTTPError(404, f"No such group: {group_name}")
        return group
