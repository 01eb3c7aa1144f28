"""The portal home, which replaces JupyterHub's /hub/home."""

from __future__ import annotations

from tornado import web

from ..base import PortalHandler
from .panels import render_data


class HomeHandler(PortalHandler):
    @web.authenticated
    async def get(self):
        panels = await render_data(self) if self.nav().group else []
        await self.render_portal("portal/home.html", panels=panels)


handlers = [(r"/home", HomeHandler)]
