"""Group policy: the REST API and the group admin's Settings page."""

from __future__ import annotations

from jupyterhub.scopes import needs_scope
from tornado import web

from ...groups import group_policy
from ...policy import (
    RESOURCE_LABELS, RESOURCES, GroupPolicy, PolicyError, format_amount, format_memory, merge_policy, parse_policy,
    properties_with,
)
from ...scopes import READ, WRITE
from ..common.base import PortalAPIHandler, PortalHandler
from .settings_form import GROUP_ADMIN_FIELDS, form_patch, form_values


def local_uri_refusal(document) -> str:
    """Why a group admin may not set this tracking URI: one on this machine's files (file:, sqlite:)
    would let them read any registry the hub can read, another group's included."""
    uri = document.get("mlflow_tracking_uri") if isinstance(document, dict) else None
    if isinstance(uri, str) and uri.strip().lower().startswith(("file:", "sqlite:")):
        return "Only hub administrators set a tracking URI on this machine's files (file: or sqlite:)"
    return ""


def store_policy(handler, group, policy: GroupPolicy) -> None:
    group.properties = properties_with(group.properties, policy)
    handler.db.commit()
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
    """GET /hub/portal/group-settings: the current group's policy, for its admins.

    Hub admins also get an edit form; its POST is applied as a merge (like
    PATCH), so the fields the form does not show are kept.
    """

    async def _render(self, group, errors=None, form=None, saved=False):
        policy = group_policy(group)
        await self.render_portal(
            "portal/group_settings.html",
            policy=policy,
            quota_rows=[
                (r, format_amount(r, policy.quota.limit(r)), format_amount(r, policy.user_quota.limit(r)))
                for r in RESOURCES
            ] + [("storage", format_memory(policy.quota.storage), "group only")],
            instance_types=policy.allowed_instance_types(self.catalog),
            images=policy.allowed_images(self.catalog),
            edit=self.current_user.admin, edit_timeout=not self.current_user.admin,
            settings_group=group.name, errors=errors or {},
            form=form or form_values(policy), saved=saved, resources=RESOURCES, labels={**RESOURCE_LABELS, "storage": "Storage"},
        )

    @web.authenticated
    async def get(self):
        group = self.current_group()
        self.require_group_admin(group)
        await self._render(group, saved=self.get_query_argument("saved", "") == "1")

    @web.authenticated
    async def post(self):
        group = self.visible_group(self.get_body_argument("group", ""))
        form = {k: self.get_body_argument(k) for k in self.request.body_arguments if k not in ("_xsrf", "group")}
        if not self.current_user.admin:
            self.require_group_admin(group)
            if set(form) - set(GROUP_ADMIN_FIELDS):
                raise web.HTTPError(403, "Only hub administrators change a group's quota, admins and deployments")
            if refusal := local_uri_refusal(form):
                raise web.HTTPError(403, refusal)
        try:
            policy = merge_policy(group_policy(group), form_patch(form), self.catalog)
        except PolicyError as exc:
            self.set_status(400)
            return await self._render(group, exc.errors, {**form_values(group_policy(group)), **form})
        store_policy(self, group, policy)
        self.redirect(self.hub.base_url + "portal/group-settings?saved=1")


handlers = [
    (r"/api/portal/groups/([^/]+)/policy", PolicyAPIHandler),
    (r"/portal/group-settings", GroupSettingsHandler),
]
