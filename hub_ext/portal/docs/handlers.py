"""The user guide and REST API reference, rendered from docs/*.md inside the portal."""

from __future__ import annotations

import functools
from pathlib import Path

from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from tornado import web

from hub_ext import _data_path

from ..common.base import PortalHandler

PAGES = {"user-guide": "User guide", "rest-api": "REST API", "admin-guide": "Admin guide"}
# the embedded default's address, as the Markdown sources write it; pages show the portal's own
SOURCE_ADDRESS = "http://127.0.0.1:8000/"


@functools.lru_cache(maxsize=8)
def render_page(name: str) -> str:
    source = Path(_data_path("docs")) / f"{name}.md"
    # our own documentation: HTML in it is not expected, and is escaped
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(source.read_text())


@functools.lru_cache(maxsize=4)
def api_reference(hub_prefix: str) -> dict:
    """What the REST API page lists, from the OpenAPI document the hub serves (one source)."""
    from ..openapi import reference
    from ..openapi.handlers import document

    doc = document(hub_prefix.rstrip("/"))
    models = reference.body_models(doc)
    return {"doc": doc, "url": f"{hub_prefix}api/portal/openapi.json", "server": doc["servers"][0]["url"],
            "sections": reference.sections(doc), "models": models,
            "fields": {name: fields for name, _, fields in models}}


class DocsHandler(PortalHandler):
    @web.authenticated
    async def get(self, name):
        if name not in PAGES:
            raise web.HTTPError(404, f"No documentation page {name!r}")
        body = render_page(name).replace(SOURCE_ADDRESS, str(escape(self.hub_address())))
        api = api_reference(self.hub.base_url) if name == "rest-api" else None
        await self.render_portal("portal/docs.html", title=PAGES[name], body=Markup(body), api=api)

    def hub_address(self) -> str:
        """The portal's root address as the reader reaches it (the hub's pages are under ``hub/``, deployment
        endpoints under ``deployments/``): the configured public URL, else this request's."""
        public = self.settings.get("public_url")  # JupyterHub.public_url, parsed
        if public:
            return f"{public.scheme}://{public.netloc}{self.base_url}"
        return f"{self.request.protocol}://{self.request.host}{self.base_url}"


handlers = [(r"/portal/docs/([a-z-]+)", DocsHandler)]
