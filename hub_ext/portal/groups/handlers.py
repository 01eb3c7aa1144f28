"""Group policy: the REST API and the group admin's Settings page."""

from __future__ import annotations

from jupyterhub.scopes import needs_scope
from tornado import web

from ...groups import group_policy
from ...policy import PolicyError, format_amount, parse_policy, properties_with, RESOURCES
from ...scopes import READ
from ..base import PortalAPIHandler, PortalHandler


class PolicyAPIHandler(PortalAPIHandler):
    """GET (members) / PUT (hub admins) /hub/api/portal/groups/{group}/policy."""

    @needs_scope(READ)
    def get(self, group_name):
        group = self.visible_group(group_name)
        self.write_json({"group": group.name, "policy": group_policy(group).model_dump(mode="json")})

    @needs_scope("admin:groups")
    def put(self, group_name):
        group = self.visible_group(group_name)
        data = self.json_body()
        try:
            policy = parse_policy(data.get("policy", data), self.catalog)
        except PolicyError as exc:
            return self.field_error(exc.errors)
        group.properties = properties_with(group.properties, policy)
        self.db.commit()
        self.log.info("Policy of group %s changed by %s", group.name, self.current_user.name)
        self.write_json({"group": group.name, "policy": policy.model_dump(mode="json")})


class GroupSettingsHandler(PortalHandler):
    """GET /hub/portal/group-settings: the current group's policy, for its admins."""

    @web.authenticated
    async def get(self):
        nav = self.nav()
        if not nav.group:
            raise web.HTTPError(404, "No group available")
        group = self.visible_group(nav.group)
        self.require_group_admin(group)
        policy = group_policy(group)
        await self.render_portal(
            "portal/group_settings.html",
            policy=policy,
            quota_rows=[
                (r, format_amount(r, policy.quota.limit(r)), format_amount(r, policy.user_quota.limit(r)))
                for r in RESOURCES
            ],
            instance_types=policy.allowed_instance_types(self.catalog),
            images=policy.allowed_images(self.catalog),
        )


handlers = [
    (r"/api/portal/groups/([^/]+)/policy", PolicyAPIHandler),
    (r"/portal/group-settings", GroupSettingsHandler),
]
