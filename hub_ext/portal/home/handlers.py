"""The portal home, which replaces JupyterHub's /hub/home."""

from __future__ import annotations

from tornado import web

from ..base import PortalHandler


class HomeHandler(PortalHandler):
    @web.authenticated
    async def get(self):
        await self.render_portal(
            "portal/home.html",
            docs_links=self.hubfront.docs_links,
            panels=await self.home_panels(),
        )

    async def home_panels(self) -> dict:
        """Data for the panels that features add to home (none needed for the guide)."""
        return {}


handlers = [(r"/home", HomeHandler)]
