"""Preferences page (form POST) and GET/PUT /hub/api/portal/me/preferences."""

from __future__ import annotations

from jupyterhub.scopes import needs_scope
from tornado import web

from ...scopes import READ, WRITE
from ..common.base import PortalAPIHandler, PortalHandler
from ..nav import MenuEntry, register_menu
from . import prefs


class PreferencesHandler(PortalHandler):
    async def _render(self, current: prefs.Preferences, errors: dict | None = None, saved: bool = False):
        if errors:
            self.set_status(400)
        await self.render_portal(
            "portal/preferences.html", prefs=current, errors=errors or {}, saved=saved,
            timezones=prefs.timezone_names(), default_timezone=prefs.default_timezone(),
        )

    @web.authenticated
    async def get(self):
        await self._render(prefs.get(self.db_url, self.current_user.name))

    @web.authenticated
    async def post(self):
        data = {
            "default_group": self.get_body_argument("default_group", ""),
            "timezone": self.get_body_argument("timezone", ""),
        }
        names = [g["name"] for g in self.nav().groups]
        try:
            saved = prefs.save(self.db_url, self.current_user.name, data, names)
        except prefs.PreferenceError as exc:
            return await self._render(prefs.Preferences(data["default_group"] or None, data["timezone"] or None),
                                      exc.errors)
        await self._render(saved, saved=True)


class PreferencesAPIHandler(PortalAPIHandler):
    @needs_scope(READ)
    def get(self):
        self.write_json(prefs.get(self.db_url, self.current_user.name).as_json())

    @needs_scope(WRITE)
    def put(self):
        body = self.body(prefs.PreferencesUpdate)
        names = [g["name"] for g in self.nav().groups]
        try:
            saved = prefs.save(self.db_url, self.current_user.name, body.model_dump(exclude_unset=True), names)
        except prefs.PreferenceError as exc:
            self.field_error(exc.errors)
        self.write_json(saved.as_json())


register_menu(MenuEntry("Preferences", "portal/preferences", "fa-gear"))

handlers = [
    (r"/portal/preferences", PreferencesHandler),
    (r"/api/portal/me/preferences", PreferencesAPIHandler),
]
