"""The About page."""

from __future__ import annotations

from tornado import web

from ..common.base import PortalHandler
from ..nav import MenuEntry, register_menu
from ..preferences.prefs import format_time, user_zone
from .info import about


class AboutHandler(PortalHandler):
    @web.authenticated
    async def get(self):
        zone = user_zone(self.db_url, self.current_user.name)
        await self.render_portal("portal/about.html", about=about(self.db_url),
                                 when=lambda dt: format_time(dt, zone))


register_menu(MenuEntry("About", "portal/about", "fa-circle-info"))

handlers = [(r"/portal/about", AboutHandler)]
