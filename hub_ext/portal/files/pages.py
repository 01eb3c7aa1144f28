"""The Shared Files page (thin: every listing and change goes through the REST API from static/files*.js).

``/hub/portal/files`` is the root of the group in focus's storage, ``/hub/portal/files/<path>``
a folder in it. The page gets what the scripts need (the group, the folder, the API and
upload endpoints) and the browser's tus client, served from the checkout's ``node_modules``
(``npm install`` puts it there; nothing of it is committed).
"""

from __future__ import annotations

from pathlib import Path

from tornado import web

from ...settings import Hubfront
from ...storage.paths import BadPath, clean
from ...storage.kube import hub_reaches_group_storage
from ..jobs.pages import _JobsPage
from ..nav import MenuEntry, register_menu
from .common import require_group_storage

TUS_DIST = Path("node_modules") / "tus-js-client" / "dist"
CHUNK_SIZE = 8 << 20  # bytes per tus PATCH: big enough to be fast, small enough to resume cheaply


def tus_dist() -> str:
    """The folder holding tus-js-client's browser bundle: beside the checkout, else in the working
    directory (where ``make run`` and ``npm install`` run)."""
    here = Path(__file__).resolve().parents[3] / TUS_DIST
    return str(here if here.is_dir() else Path.cwd() / TUS_DIST)


class FilesPageHandler(_JobsPage):
    """GET /hub/portal/files[/<path>]: the group's shared files, uploads and share links."""

    @web.authenticated
    async def get(self, path=""):
        require_group_storage(self.hubfront)
        group = self.current_group()
        try:
            folder = clean(path or "")
        except BadPath as exc:
            raise web.HTTPError(400, f"path: {exc}") from None
        base = self.hub.base_url
        api = f"{base}api/portal/groups/{group.name}"
        await self.render_portal(
            "portal/files.html", group=group.name, folder=folder, files_api=f"{api}/files/",
            uploads_api=f"{api}/uploads", shares_api=f"{api}/shares", page_base=f"{base}portal/files",
            chunk_size=CHUNK_SIZE, **self.common())


class TusScriptHandler(web.StaticFileHandler):
    """tus-js-client's browser bundle (``tus.min.js``), at /hub/portal/vendor/tus/."""

    def initialize(self, hubfront):
        super().initialize(path=tus_dist())


def _files_here() -> bool:
    return hub_reaches_group_storage(Hubfront.instance().config)


register_menu(MenuEntry("Shared Files", "portal/files", "fa-folder-open", shortcut="Upload files",
                        available=_files_here))

handlers = [
    (r"/portal/files/?", FilesPageHandler),
    (r"/portal/files/(.+)", FilesPageHandler),
    (r"/portal/vendor/tus/(tus\.min\.js|tus\.min\.js\.map)", TusScriptHandler),
]
