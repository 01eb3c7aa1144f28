"""What the Images page's handlers and the image builds' handlers share: the group admin's view of a
group's images, and how a change of them is stored and recorded."""

from __future__ import annotations

from tornado import web

from ... import activity
from ...groups import group_policy
from ...images.group import group_image
from ...images.specs import embedded_mode
from ..common.base import PortalAPIHandler
from ..groups.handlers import store_policy

KIND = "image"


class _ImagesAPI(PortalAPIHandler):
    @property
    def embedded(self) -> bool:
        return embedded_mode(self.hubfront.config)

    def admin_group(self, group_name: str):
        group = self.visible_group(group_name)
        self.require_group_admin(group)
        return group

    def image_of(self, group, name: str):
        try:
            return group_image(group_policy(group), name)
        except KeyError:
            raise web.HTTPError(404, f"No such image in group {group.name}: {name}") from None

    def save(self, group, policy, action: str, name: str, message: str) -> None:
        store_policy(self, group, policy)
        activity.record(self.db_url, username=self.current_user.name, group=group.name, kind=KIND, action=action,
                        status="ok", message=message, workload_id=name,
                        link=f"{self.hub.base_url}portal/images")
