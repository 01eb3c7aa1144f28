"""GET /hub/api/portal/openapi.json: the OpenAPI 3.1 document of the portal REST API."""

from __future__ import annotations

import functools

from jupyterhub.scopes import needs_scope

from ...scopes import READ
from ..common.base import PortalAPIHandler
from . import spec


@functools.lru_cache(maxsize=4)
def document(server_url: str) -> dict:
    """Built once per hub prefix: the table does not change while the hub runs."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("hubfront")
    except PackageNotFoundError:
        release = "0"
    return spec.build(server_url, release)


class OpenAPIHandler(PortalAPIHandler):
    """Like every portal endpoint it needs a token (or the login cookie): the document is
    the same for everyone, but the hub tells nothing about itself to strangers."""

    @needs_scope(READ)
    def get(self):
        self.write_json(document(self.hub.base_url.rstrip("/")))


handlers = [(r"/api/portal/openapi.json", OpenAPIHandler)]
