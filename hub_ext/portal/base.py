"""Base classes for portal pages and APIs: thin HTTP glue over the logic modules."""

from __future__ import annotations

import json

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers.base import BaseHandler
from tornado import web

from .. import scopes  # noqa: F401  (defines the custom scopes before any needs_scope)
from ..groups import find_group, is_group_admin
from ..ledger import Ledger
from . import ids
from ..bodies import BodyError, parse_body
from .nav import build_nav


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


class _PortalMixin:
    def initialize(self, hubfront):
        self.hubfront = hubfront

    @property
    def db_url(self) -> str:
        return self.hubfront.db_url

    @property
    def catalog(self):
        return self.hubfront.catalog

    def nav(self):
        if not hasattr(self, "_nav"):
            self._nav = build_nav(self.current_user.orm_user, self.db_url)
        return self._nav

    def ledger_snapshot(self, group: str):
        """The group's quota use, read once per request however many panels need it."""
        cache = self.__dict__.setdefault("_snapshots", {})
        if group not in cache:
            cache[group] = Ledger(self.db_url).snapshot(group)
        return cache[group]

    def current_group(self):
        """The group in focus, if the caller may see it; 404 when they have none."""
        nav = self.nav()
        if not nav.group:
            raise web.HTTPError(404, "No group available")
        return self.visible_group(nav.group)

    def visible_group(self, group_name: str):
        """The group if the caller may see it (member or hub admin), else 404."""
        user = self.current_user.orm_user
        group = next((g for g in user.groups if g.name == group_name), None)
        if group is not None:
            return group
        group = find_group(self.db, group_name) if user.admin else None
        if group is None:
            raise web.HTTPError(404, f"No such group: {group_name}")
        return group

    def parse_id(self, value, field: str, column, status: int = 400, optional: bool = False,
                 low: int = 1) -> int | None:
        """An id from a path (pass 404), a form or a query (:mod:`.ids`); refused naming ``field``."""
        try:
            return (ids.optional_id if optional else ids.parse_id)(value, field, column, low)
        except ids.BadId as exc:
            raise web.HTTPError(status, str(exc)) from None

    def require_group_admin(self, group):
        if not is_group_admin(self.current_user.orm_user, group):
            raise web.HTTPError(403, f"Only admins of group {group.name} may do this")


class PortalHandler(_PortalMixin, BaseHandler):
    """A portal page, rendered inside templates/page.html."""

    async def render_portal(self, template: str, **ns) -> None:
        html = await self.render_template(template, hubfront=self.nav(), **ns)
        self.finish(html)


class PortalAPIHandler(_PortalMixin, APIHandler):
    """A portal REST endpoint under /hub/api/portal/."""

    def json_body(self) -> dict:
        """The JSON object in the body, or 400 naming the problem."""
        try:
            data = json.loads(self.request.body or b"{}", parse_constant=_not_json)
        except ValueError as exc:
            raise web.HTTPError(400, f"body: invalid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "body: expected a JSON object")
        return data

    def body(self, model):
        """The JSON body validated by the pydantic ``model`` (:mod:`hub_ext.bodies`), or None after
        answering 400 naming each bad field (unknown ones included)."""
        try:
            return parse_body(model, self.json_body())
        except BodyError as exc:
            self.field_error(exc.errors)
            return None

    def field_error(self, errors: dict[str, str], status: int = 400) -> None:
        """Answer with one message per field at fault."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        message = "; ".join(f"{k}: {v}" for k, v in errors.items())
        self.finish(json.dumps({"status": status, "message": message, "errors": errors}, allow_nan=False))

    def write_json(self, data) -> None:
        """Strict JSON only: NaN or Infinity (not JSON) is a bug to fix where it came from."""
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str, allow_nan=False))
