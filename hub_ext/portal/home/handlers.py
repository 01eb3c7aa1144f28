"""The portal home, which replaces JupyterHub's /hub/home."""

from __future__ import annotations

from tornado import web

from ..common.base import PortalHandler
from .panels import render_data
from .start import StartDialogHandler, start_menu


class HomeHandler(PortalHandler):
    @web.authenticated
    async def get(self):
        nav = self.nav()
        panels = await render_data(self) if nav.group else []
        shown = {panel.name for panel, _ in panels}
        nav.banners = [b for b in nav.banners if b.home_panel not in shown]  # each thing once on home
        start = await start_menu(self, nav) if nav.group else None
        await self.render_portal("portal/home.html", panels=panels, start=start)


handlers = [(r"/home", HomeHandler), (r"/portal/start", StartDialogHandler)]
