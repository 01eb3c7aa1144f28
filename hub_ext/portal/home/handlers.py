"""The portal home, which replaces JupyterHub's /hub/home.

The main block is kept whole between looks (``PortalHandler.render_kept``) while nothing any of its panels or
its Start menu was built from changed; each panel is also kept on its own (``.panels``), so that a change to
one builds that one again and takes the others as they were.
"""

from __future__ import annotations

import re

from tornado import web

from ..common.base import PortalHandler
from .panels import render_data, varies
from .start import StartDialogHandler, start_menu

SHOWN = re.compile(r'<div class="[^"]*" data-panel="([a-z0-9_-]+)">')  # a panel's place in portal/home.html


def hide_banners(nav, shown: set[str]) -> None:
    """Each thing once on the home: a banner whose panel is shown goes."""
    nav.banners = [b for b in nav.banners if b.home_panel not in shown]


class HomeHandler(PortalHandler):
    @web.authenticated
    async def get(self):
        nav = self.nav()
        if not nav.group:
            return await self.render_portal("portal/home.html", panels=[], start=None)

        varied = varies(self)

        async def data() -> dict:
            panels = await render_data(self, varied)
            hide_banners(nav, {panel.name for panel, _ in panels})
            return {"panels": panels, "start": await start_menu(self, nav)}

        await self.render_kept("portal/home.html", data, key=("home", varied),
                               on_kept=lambda main: hide_banners(nav, set(SHOWN.findall(main))))


handlers = [(r"/home", HomeHandler), (r"/portal/start", StartDialogHandler)]
