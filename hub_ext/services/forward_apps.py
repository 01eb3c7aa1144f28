"""Apps: the runner forwards ``/apps/<group>/<app>/…`` to the running app (issue 13).

The same machinery as deployment endpoints (:mod:`.forward`): configurable-http-proxy
sends every path under ``<base_url>apps/`` to the runner, whose tornado application has
:func:`handlers`; websockets included (:mod:`.forward_ws`).

**Routes follow the portal DB.** :func:`follow_apps` reads the ``apps`` rows every
quarter second into the app route table (a :class:`.RouteTable` keyed ``<group>/<app>``,
one :class:`AppRoute` per installed app): the app's endpoint while its phase is
``Running`` with an endpoint, none otherwise. The apps reconciler only writes rows.

A request meets, in order:

- ``/apps/<group>/<app>`` (no slash after the app): 302 to the slash;
- no such app (or one being uninstalled): 404;
- the access check (:mod:`.app_access`), asked of the hub for this request: ``public`` apps
  need none; else no valid credential: a browser is sent to log in (302), an API client gets
  401; a logged-in caller who may not use it (not a member of a ``group`` app's group, not an
  admin): the same 404 as for no such app (another group's apps are not shown, as in the
  portal); the hub unreachable: 503;
- installed but not running (Installing, Starting, Stopped, Failed...): 503 with ``Retry-After``;
- else the app: the path in full (``keep_prefix``: apps served under their prefix, as MLflow
  with ``--static-prefix`` and Streamlit with ``baseUrlPath``) or without ``/apps/<group>/<app>``
  (apps served at their root, as code-server). The app gets the client's ``Host`` (so that
  its own origin checks see the browser's), ``X-Forwarded-For/-Proto/-Host`` and
  ``X-Forwarded-User`` (the hub user the check found; never the client's own); never the
  credential (``Authorization``, the ``hubfront-apps`` cookie) nor the hub's cookies (an ``_xsrf``
  cookie is the app's own: the hub's is scoped to its prefix).

Answers of the forwarder's own are a small HTML page for browsers, JSON otherwise.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from dataclasses import dataclass, replace
from typing import Callable
from urllib.parse import quote, unquote

from sqlalchemy import select

from ..store.engine import read_scope
from ..store.models_apps import ACCESS_SCOPES, App
from .app_access import AppAccess, CallbackHandler, HubUnreachable, allows, is_secure
from .forward import Endpoints, _Exchange
from .forward_auth import EndpointForwarder, Route, RouteTable
from .forward_ws import is_websocket

_GROUP_APP_REST = re.compile(r"([^/?]+)/([^/?]+)(.*)", re.DOTALL)
_LOGGED = 60.0  # seconds between two log lines about the same failing read of the apps


@dataclass
class AppRoute(Route):
    """An installed app: ``deployment_id`` is ``<group>/<app>``; no endpoints while it is not running."""

    keep_prefix: bool = True  # the app serves under /apps/<group>/<app>/ itself (else at its root)
    phase: str = ""


def handlers(table: RouteTable, access: AppAccess, forwarder: EndpointForwarder | None = None) -> list:
    """The URL rules to add to the runner's ``web.Application``: the login's return, then every app path."""
    prefix = access.prefix
    return [(re.escape(prefix) + "oauth_callback", CallbackHandler, {"access": access}),
            (re.escape(prefix) + ".*", Endpoints(table, prefix, forwarder or EndpointForwarder(), AppExchange,
                                                 access=access))]


def serve_apps(config, log: logging.Logger, *, base_url: str, hub_prefix: str, hub_api_url: str, client_id: str,
               token: str, key: bytes) -> tuple[RouteTable, list]:
    """For the runner's ``main()``: the app route table (for :func:`follow_apps`) and the URL rules."""
    access = AppAccess(config=config, log=log, base_url=base_url, hub_prefix=hub_prefix, hub_api_url=hub_api_url,
                       client_id=client_id, client_secret=token, key=key)
    table = RouteTable()
    return table, handlers(table, access, EndpointForwarder(config=config, log=log))


class AppExchange(_Exchange):
    """One request to an app: the route, then the access check (awaited before anything is read or sent)."""

    noun = "App"
    keep_host = True
    user = ""  # the hub user the check found ("" for a public app)

    def admit(self, start_line, headers):
        prefix, self.target = self.ep.prefix, start_line.path
        self.browser = "text/html" in headers.get("Accept", "")
        m = _GROUP_APP_REST.fullmatch(start_line.path[len(prefix):])
        if m is None:
            return self._refuse(404, "No such app")
        segment, name, rest = m.groups()  # the group's name is quoted as a path segment
        if not rest.startswith("/"):
            return self._refuse(302, f"The app is at {prefix}{segment}/{name}/",
                                {"Location": f"{prefix}{segment}/{name}/{rest}"})
        group = unquote(segment)
        d = self.ep.table.deployments.get(f"{group}/{name}")
        if d is None:
            return self._refuse(404, f"No such app: {group}/{name}")
        self.dep = d
        d.requests += 1
        route: AppRoute = d.route
        self.tail = start_line.path if route.keep_prefix else rest
        if route.access == "public":
            return True
        return self._check(headers, route)

    async def _check(self, headers, route: AppRoute) -> bool:
        access: AppAccess = self.ep.extra["access"]
        token = access.credential(headers)
        try:
            user = await access.identify(token) if token else None
        except HubUnreachable as exc:
            self.ep.log.warning("App %s: no access check: %s", route.deployment_id, exc)
            return self._refuse(503, "The hub cannot be reached to check access; try again",
                                {"Retry-After": str(self.ep.settings.retry_after)})
        if user is not None and allows(route.access, route.group, user):
            self.user = str(user.get("name") or "")
            return True
        self.dep.unauthorized += 1
        if user is not None:  # logged in, but not let in: as if there were no such app
            return self._refuse(404, f"No such app: {route.deployment_id}")
        ctx = self.conn.context
        if self.method in ("GET", "HEAD") and self.browser and not is_websocket(headers):
            location, cookie = access.login(self.target, is_secure(headers, ctx.protocol))
            return self._refuse(302, "Log in to the hub to use this app", {"Location": location, "Set-Cookie": cookie})
        return self._refuse(401, "Log in to the hub: send 'Authorization: token <hub API token>' "
                                 "(or Bearer), or open the app in a browser",
                            {"WWW-Authenticate": 'Bearer realm="apps"'})

    def _ready(self, headers):
        ready = super()._ready(headers)
        if self.state != "refused":  # X-Forwarded-User is the forwarder's, never the client's
            self.fields = "".join(line for line in self.fields.splitlines(keepends=True)
                                  if not line.lower().startswith("x-forwarded-user:"))
            if self.user:
                self.fields += f"X-Forwarded-User: {quote(self.user, safe='@.+-_~')}\r\n"
        return ready

    def _unavailable(self, failure: Exception | None) -> tuple:
        route: AppRoute = self.dep.route
        if failure is not None:  # what went wrong is in the runner's log
            return 502, f"App {route.deployment_id} failed to answer; try again", None
        return (503, f"App {route.deployment_id} is not running ({route.phase or 'not started'}); try again later",
                {"Retry-After": str(self.ep.settings.retry_after)})

    def _body(self, status: int, message: str) -> tuple[str, bytes]:
        if not self.browser:
            return super()._body(status, message)
        title = f"{status} {html.escape(_reason(status))}"
        home = html.escape(self.ep.extra["access"].hub_prefix + "home")
        # a starting app: the page looks again by itself
        refresh = f'<meta http-equiv="refresh" content="{self.ep.settings.retry_after}">' if status == 503 else ""
        page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">{refresh}<title>{title}</title></head>'
                f'<body style="font-family:sans-serif;margin:3em"><h1>{title}</h1><p>{html.escape(message)}</p>'
                f'<p><a href="{home}">Back to the hub</a></p></body></html>')
        return "text/html; charset=utf-8", page.encode()


def _reason(status: int) -> str:
    from tornado.httputil import responses

    return responses.get(status, "Error")


# -- routes from the DB -------------------------------------------------------------------------------
def read_routes(db_url: str, prefix_for: Callable[[str], bool] | None = None) -> dict[str, AppRoute]:
    """Every installed app's route, from the ``apps`` rows (uninstalling ones left out)."""
    with read_scope(db_url) as s:
        rows = s.execute(select(App.group, App.name, App.template, App.access, App.phase, App.endpoint)
                         .where(App.delete_requested.is_(False))).all()
    now, routes = time.monotonic(), {}
    for group, name, template, access, phase, endpoint in rows:
        key = f"{group}/{name}"
        running = phase == "Running" and bool(endpoint)
        routes[key] = AppRoute(key, access if access in ACCESS_SCOPES else "group", (endpoint,) if running else (),
                               now, {}, group, _keeps_prefix(prefix_for, template), phase)
    return routes


def _keeps_prefix(prefix_for: Callable[[str], bool] | None, template: str) -> bool:
    if prefix_for is None:
        return True
    try:
        return bool(prefix_for(template))
    except Exception:  # noqa: BLE001 - a template the catalog lost: served as installed, under its prefix
        return True


def sync_routes(table: RouteTable, routes: dict[str, AppRoute]) -> None:
    """Make the table hold ``routes``: new and changed ones set, gone ones removed; an endpoint taken out
    after a failure comes back with the next read."""
    for key in [k for k in table.deployments if k not in routes]:
        table.remove(key)
    for key, route in routes.items():
        d = table.deployments.get(key)
        if d is None or d.out or replace(d.route, checked=route.checked) != route:
            table.set(route)


async def follow_apps(db_url: str, table: RouteTable, prefix_for: Callable[[str], bool] | None = None,
                      interval: float = 0.25, log: logging.Logger | None = None) -> None:
    """For ever: the app route table follows the ``apps`` rows (read every ``interval`` seconds).

    ``prefix_for(template)``: whether apps of that template serve under their prefix (default True).
    """
    log = log or logging.getLogger("hubfront.runner")
    logged = 0.0
    while True:
        try:
            sync_routes(table, read_routes(db_url, prefix_for))
        except Exception:  # noqa: BLE001 - the DB comes back; the routes stay as they were meanwhile
            if time.monotonic() - logged > _LOGGED:
                logged = time.monotonic()
                log.warning("Apps: cannot read the apps' routes", exc_info=True)
        await asyncio.sleep(interval)

