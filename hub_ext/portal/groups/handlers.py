"""Group policy: the REST API, and the group admin's Settings page that leads to the Groups console."""

from __future__ import annotations

from urllib.parse import quote

from jupyterhub.scopes import needs_scope
from tornado import web

from ... import groups
from ...groups import group_policy
from ...policy import GroupPolicy, PolicyError, merge_policy, parse_policy
from ...scopes import READ, WRITE
from ..common.base import PortalAPIHandler, PortalHandler
from .settings_form import GROUP_ADMIN_FIELDS, GROUP_ADMIN_LABELS


def local_uri_refusal(document) -> str:
    """Why a group admin may not set this tracking URI: one on this machine's files (file:, sqlite:)
    would let them read any registry the hub can read, another group's included."""
    uri = document.get("mlflow_tracking_uri") if isinstance(document, dict) else None
    if isinstance(uri, str) and uri.strip().lower().startswith(("file:", "sqlite:")):
        return "Only hub administrators set a tracking URI on this machine's files (file: or sqlite:)"
    return ""


def store_policy(handler, group, policy: GroupPolicy) -> None:
    """The group's policy written (``hub_ext.groups.store_policy``), and who changed it logged."""
    groups.store_policy(handler.db, group, policy)
    handler.log.info("Policy of group %s changed by %s", group.name, handler.current_user.name)


class PolicyAPIHandler(PortalAPIHandler):
    """GET (members); PUT, a full replace, and PATCH, a merge (hub admins): /hub/api/portal/groups/{group}/policy."""

    @needs_scope(READ)
    def get(self, group_name):
        group = self.visible_group(group_name)
        self.write_json({"group": group.name, "policy": group_policy(group).model_dump(mode="json")})

    def _change(self, group_name, parse, group_admin_fields: tuple[str, ...] = ()) -> None:
        group = self.visible_group(group_name)
        data = self.json_body()
        if "policy" in data and len(data) > 1:  # {"policy": {...}, "quota": {...}}: nothing is dropped silently
            self.field_error({k: "unknown field (the policy's fields go inside \"policy\")"
                                     for k in data if k != "policy"})
        document = data.get("policy", data)
        if not self.hub_admin():
            self.require_group_admin(group)
            others = sorted(set(document) - set(group_admin_fields)) if isinstance(document, dict) else []
            if others:
                raise web.HTTPError(403, f"Group admins change only {', '.join(group_admin_fields)}; "
                                         f"hub administrators change {', '.join(others)}")
            if refusal := local_uri_refusal(document):
                raise web.HTTPError(403, refusal)
        try:
            policy = parse(group, document)
        except PolicyError as exc:
            self.field_error(exc.errors)
        store_policy(self, group, policy)
        self.write_json({"group": group.name, "policy": policy.model_dump(mode="json")})

    def hub_admin(self) -> bool:
        return self.current_user.admin and "admin:groups" in self.expanded_scopes

    @needs_scope("admin:groups")
    def put(self, group_name):
        """Replace the whole policy: a field left out gets its default."""
        self._change(group_name, lambda group, doc: parse_policy(doc, self.catalog))

    @needs_scope(WRITE)
    def patch(self, group_name):
        """Change only the fields sent (JSON merge patch; ``null`` resets a field to its default).

        Hub admins change anything; a group's admins change its default job timeout and MLflow tracking URI.
        """
        self._change(group_name, lambda group, doc: merge_policy(group_policy(group), doc, self.catalog),
                     group_admin_fields=GROUP_ADMIN_FIELDS)


class GroupSettingsHandler(PortalHandler):
    """GET /hub/portal/group-settings: the working group's Settings, for its admins: where its policy is set
    (the Groups console's page for the group; :mod:`hub_ext.portal.admin_groups`)."""

    @web.authenticated
    async def get(self):
        group = self.current_group()
        self.require_group_admin(group)
        await self.render_portal(
            "portal/group_settings.html",
            console_url=f"{self.hub.base_url}portal/admin/groups/{quote(group.name, safe='')}",
            group_admin_fields=[GROUP_ADMIN_LABELS[f] for f in GROUP_ADMIN_FIELDS],
        )


handlers = [
    (r"/api/portal/groups/([^/]+)/policy", PolicyAPIHandler),
    (r"/portal/group-settings", GroupSettingsHandler),
]
