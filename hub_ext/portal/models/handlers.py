"""Models: the current group's registered models from its MLflow registry (page and REST API).

Thin: find the group's registry (:func:`hub_ext.apps.registry.tracking_uri_of`), read it
(:func:`.registry.list_models`), render (descriptions are Markdown in MLflow: rendered by
:mod:`..common.markdown`, the API hands them as they are). A registry that cannot be read is the
page's news, never a 500: the page says why (status 200), the API answers 502.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from urllib.parse import quote

from jupyterhub.scopes import needs_scope
from tornado import web

from ...apps.registry import not_answering, reachable_uri, tracking_uri_of
from ...groups import display_name, group_policy, is_member
from ...quantities import format_age
from ...scopes import READ
from ..common.base import PortalAPIHandler, PortalHandler
from ..common.latest import Latest
from ..common.markdown import render_markdown
from ..jobs.pages import local_time
from ..nav import MenuEntry, register_menu
from ..preferences.prefs import user_zone
from .registry import AppNotAnswering, RegistryError, as_json, deploy_link, list_models


class _Registry:
    """What the page and the API share: the group's registry URI and reading it."""

    def tracking_uri(self, group) -> str:
        self._group_name = group.name
        return tracking_uri_of(group_policy(group), self.hubfront.mlflow_tracking_uri)

    async def listing(self, uri: str):
        # an MLflow app of the group bound as its registry is read where the runner reaches it, not through
        # its origin (which wants a member's credentials); members are shown its public address. An app the
        # runner does not reach is not asked: the page says why (stopped, restarting after running out of
        # memory…), as it does when the app stopped answering while asked.
        trouble = await asyncio.to_thread(not_answering, self.db_url, self._group_name, uri)
        if trouble:
            raise AppNotAnswering(trouble)
        reachable = await asyncio.to_thread(reachable_uri, self.db_url, self._group_name, uri)
        try:
            listing = await list_models(reachable, self.hubfront.mlflow_timeout, self.hubfront.mlflow_retries)
        except RegistryError:
            trouble = await asyncio.to_thread(not_answering, self.db_url, self._group_name, uri)
            if trouble:
                raise AppNotAnswering(trouble) from None
            raise
        return replace(listing, tracking_uri=uri) if reachable != uri else listing


# the page lists what was last read from the registry (read again in the background once older than this)
LISTINGS = Latest(ttl=30.0, expected=(RegistryError,))


class ModelsPageHandler(_Registry, PortalHandler):
    """GET /hub/models: the current group's registered models, their versions, and Deploy (``?refresh=1``: read
    the registry now). The listing is the last one read (``LISTINGS``), with its age; an app of the group that
    is its registry and is known not to answer (the database says so) is said at once."""

    @web.authenticated
    async def get(self):
        group = self.current_group()
        policy = group_policy(group)
        uri = self.tracking_uri(group)
        listing, error, app_down, age = None, "", False, ""
        if uri:
            trouble = await asyncio.to_thread(not_answering, self.db_url, group.name, uri)
            fresh = self.get_query_argument("refresh", "") == "1"
            reading = None if trouble else await LISTINGS.get((group.name, uri), lambda: self.listing(uri), fresh)
            if trouble or reading.error is not None:
                error = trouble or str(reading.error)
                app_down = bool(trouble) or isinstance(reading.error, AppNotAnswering)
                self.log.warning("Models page of group %s: %s", group.name, error)
            else:
                listing = reading.value
            age = format_age(reading.age) if reading is not None else ""
        zone = user_zone(self.db_url, self.current_user.name)
        await self.render_portal(
            "portal/models.html", configured=bool(uri), listing=listing, error=error, app_down=app_down, age=age,
            group_admins=policy.admins, deployments_enabled=policy.deployments_enabled, markdown=render_markdown,
            console_url=f"{self.hub.base_url}portal/admin/groups/{quote(group.name, safe='')}",
            deploy=lambda version: deploy_link(self.hub.base_url, version.model_uri),
            when=lambda value: local_time(value, zone, short=True), zone_name=zone.key)


class GroupModelsAPIHandler(_Registry, PortalAPIHandler):
    """GET /hub/api/portal/groups/{group}/models (the group's members)."""

    @needs_scope(READ)
    async def get(self, group_name):
        group = self.visible_group(group_name)
        if not is_member(self.current_user.orm_user, group.name):
            raise web.HTTPError(404, f"No such group: {group_name}")
        uri = self.tracking_uri(group)
        if not uri:
            return self.write_json({
                "group": group.name, "configured": False, "tracking_uri": "", "models": [], "truncated": False,
                "message": f"No MLflow tracking server is set for group {display_name(group)}: a group admin "
                           "sets one in the group's policy in the Groups console (mlflow_tracking_uri), an "
                           "operator c.Hubfront.mlflow_tracking_uri for every group"})
        try:
            listing = await self.listing(uri)
        except RegistryError as exc:
            self.set_status(502)
            return self.write_json({"status": 502, "message": str(exc), "group": group.name})
        self.write_json({"group": group.name, "configured": True, "tracking_uri": listing.tracking_uri,
                         "models": as_json(listing, self.hub.base_url), "truncated": listing.truncated})


register_menu(MenuEntry("Models", "models", "fa-cubes"))

handlers = [
    (r"/models", ModelsPageHandler),
    (r"/api/portal/groups/([^/]+)/models", GroupModelsAPIHandler),
]
