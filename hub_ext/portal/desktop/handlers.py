"""The desktop app's files: ``portal/manifest.webmanifest``, ``portal/sw.js`` and ``portal/desktop/hubfront.pyz``.

Thin: what they hold is :mod:`.pwa` and :mod:`.pyz`. They carry no user data, so they answer without a
login (a browser fetches a manifest without cookies; ``curl`` downloads the client without them) and
before a temporary password is changed. The worker's script and the archive are made once per hub
process and kept in the application's settings.
"""

from __future__ import annotations

import asyncio
import json

from ... import static_dir
from ..common.base import PortalHandler
from . import pwa, pyz

KEPT = "hubfront_desktop"  # the application settings' key of what is made once per process


class _Public(PortalHandler):
    hubfront_allow_temporary_password = True  # hub_ext.auth.gate: nothing here is the user's

    def kept(self) -> dict:
        return self.settings.setdefault(KEPT, {})


class ManifestHandler(_Public):
    def get(self):
        self.set_header("Content-Type", "application/manifest+json")
        self.set_header("Cache-Control", "no-cache")
        self.finish(json.dumps(pwa.manifest(self.hub.base_url)))


class ServiceWorkerHandler(_Public):
    def get(self):
        kept = self.kept()
        if "worker" not in kept:
            config = pwa.worker_config(self.hub.base_url, self.base_url, static_dir())
            kept["worker"] = pwa.worker_script(config, static_dir())
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Service-Worker-Allowed", self.hub.base_url)  # its scope: every hub page
        self.set_header("Cache-Control", "no-cache")  # browsers look for a new release on each visit
        self.finish(kept["worker"])


class PyzHandler(_Public):
    async def get(self):
        kept = self.kept()
        if "pyz" not in kept:
            kept["pyz"] = await asyncio.to_thread(pyz.build)
        archive = kept["pyz"]
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", f'attachment; filename="{pyz.FILENAME}"')
        self.set_header("X-Content-SHA256", archive.sha256)
        self.finish(archive.data)


handlers = [
    (r"/portal/manifest.webmanifest", ManifestHandler),
    (r"/portal/sw.js", ServiceWorkerHandler),
    (rf"/portal/desktop/{pyz.FILENAME}", PyzHandler),
]
