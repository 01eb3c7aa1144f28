"""Switching the group context: the Group dropdown (form POST) and its REST twin."""

from __future__ import annotations

from jupyterhub.scopes import needs_scope
from tornado import web

from ... import context
from ...redirects import checked_next
from ...scopes import READ, WRITE
from ..common.base import PortalAPIHandler, PortalHandler


class ContextSwitchHandler(PortalHandler):
    """POST /hub/portal/context (group, next): the Group dropdown's form."""

    @web.authenticated
    def post(self):
        group = self.get_body_argument("group", "")
        if not group:
            raise web.HTTPError(400, "group: required")
        names = [g["name"] for g in self.nav().groups]
        try:
            context.set_group(self.db_url, self.current_user.name, group, names)
        except context.NotAMember as exc:
            raise web.HTTPError(403, str(exc)) from None
        self.redirect(checked_next(self, self.get_body_argument("next", ""), self.hub.base_url + "home"))


class ContextAPIHandler(PortalAPIHandler):
    """GET/PUT /hub/api/portal/me/context."""

    def _state(self) -> dict:
        nav = self.nav()
        return {"group": nav.group, "groups": nav.groups}

    @needs_scope(READ)
    def get(self):
        self.write_json(self._state())

    @needs_scope(WRITE)
    def put(self):
        body = self.body(context.ContextChange)
        group = body.group
        names = [g["name"] for g in self.nav().groups]
        try:
            context.set_group(self.db_url, self.current_user.name, group, names)
        except context.NotAMember as exc:
            raise web.HTTPError(403, str(exc)) from None
        del self._nav
        self.write_json(self._state())


handlers = [
    (r"/portal/context", ContextSwitchHandler),
    (r"/api/portal/me/context", ContextAPIHandler),
]
