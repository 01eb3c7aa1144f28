"""The portal home, which replaces JupyterHub's /hub/home."""

from __future__ import annotations

from tornado import web

from ..base import PortalHandler
from .panels import render_data


class HomeHandler(PortalHandler):
    @web.authenticated
    async def get(self):
        nav = self.nav()
        panels = await render_data(self) if nav.group else []
        shown = {panel.name for panel, _ in panels}
        nav.banners = [b for b in nav.banners if b.home_panel not in shown]  # each thing once on home
        await self.render_portal("portal/home.html", panels=panels)


handlers = [(r"/home", HomeHandler)]
