"""The user guide and REST API reference, rendered from docs/*.md inside the portal."""

from __future__ import annotations

import functools
from pathlib import Path

from markdown_it import MarkdownIt
from markupsafe import Markup
from tornado import web

from hub_ext import _data_path

from ..base import PortalHandler

PAGES = {"user-guide": "User guide", "rest-api": "REST API", "admin-guide": "Admin guide"}


@functools.lru_cache(maxsize=8)
def render_page(name: str) -> str:
    source = Path(_data_path("docs")) / f"{name}.md"
    # our own documentation: HTML in it is not expected, and is escaped
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(source.read_text())


class DocsHandler(PortalHandler):
    @web.authenticated
    async def get(self, name):
        if name not in PAGES:
            raise web.HTTPError(404, f"No documentation page {name!r}")
        await self.render_portal("portal/docs.html", title=PAGES[name], body=Markup(render_page(name)))


handlers = [(r"/portal/docs/([a-z-]+)", DocsHandler)]
