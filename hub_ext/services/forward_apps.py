"""Apps: the runner serves each app at its own origin, ``<app>--<group>.apps.<host>`` (issues 13, 20).

The same machinery as deployment endpoints (:mod:`.forward`), websockets included
(:mod:`.forward_ws`), on a port of its own (``c.Apps.port``: in the embedded default the
runner listens there itself; on Kubernetes a wildcard Ingress sends the apps' host names
to it). An app's pages are its group's code: on a host name apart from the hub's
(``c.Apps.origin``, :mod:`hub_ext.apps.origin`) the browser keeps them from the hub's
cookies and pages. On the hub's origin only the apps' login return
(``<base_url>apps/oauth_callback``) and redirects of the old addresses remain
(:func:`hub_handlers`): ``GET /apps/<group>/<app>/<rest>`` goes to ``<the app's origin>/<rest>``,
anything else there is 404. No app content is ever served on the hub's origin.

**Routes follow the portal DB.** :func:`follow_apps` reads the ``apps`` rows every
quarter second into the app route table (a :class:`.RouteTable` keyed ``<group>/<app>``,
one :class:`AppRoute` per installed app: its endpoint while its phase is ``Running`` with
an endpoint, none otherwise) and the host map (host name -> app, by lookup, never by
trusting the ``Host`` header's words). The apps reconciler only writes rows.

A request to the apps' port meets, in order:

- a host that is no installed app's: 404;
- ``/.hubfront-login?ticket=…``: the end of the browser's login (:mod:`.app_access`);
- the access check (:mod:`.app_access`), asked of the hub for this request: ``public`` apps
  need none; else no valid credential: a browser is sent to log in (302), an API client gets
  401; a logged-in caller who may not use it (not a member of a ``group`` app's group, not an
  admin): the same 404 as for no such app; the hub unreachable: 503;
- installed but not running (Installing, Starting, Stopped, Failed...): 503 with ``Retry-After``;
- else the app, the path as it came. The app gets the client's ``Host`` (its own origin checks see
  the browser's), ``X-Forwarded-For/-Proto/-Host`` and ``X-Forwarded-User`` (the hub user the
  check found; never the client's own); its host's cookies (its own ``_xsrf`` included) but never
  the credential (``Authorization``, the ``hubfront-apps`` cookie) nor a hub cookie; its answers
  cannot set those cookies.

Answers of the forwarder's own are a small HTML page for browsers, JSON otherwise.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, quote, unquote, urlsplit

from sqlalchemy import select

from tornado import web

from ..apps.origin import HostMap
from ..store.engine import read_scope
from ..store.models_apps import ACCESS_SCOPES, App
from .app_access import LOGIN_PATH, AppAccess, CallbackHandler, allows, is_secure
from .hubapi import HubUnreachable
from .forward import Endpoints, _Exchange
from .forward_routes import SANDBOX, EndpointForwarder, Route, RouteTable
from .forward_ws import is_websocket

_GROUP_APP_REST = re.compile(r"([^/?]+)/([^/?]+)(.*)", re.DOTALL)
_LOGGED = 60.0  # seconds between two log lines about the same failing read of the apps


@dataclass
class AppRoute(Route):
    """An installed app: ``deployment_id`` is ``<group>/<app>``; no endpoints while it is not running."""

    phase: str = ""


def handlers(table: RouteTable, access: AppAccess, forwarder: EndpointForwarder | None = None) -> list:
    """The URL rules of the apps' port: every path of every app's host."""
    return [(r"/.*", Endpoints(table, "/", forwarder or EndpointForwarder(), AppExchange, access=access))]


def hub_handlers(table: RouteTable, access: AppAccess) -> list:
    """The URL rules for ``<base_url>apps/`` on the hub's origin: the login's return, and redirects of the old
    ``/apps/<group>/<app>/…`` addresses to the apps' own origins."""
    prefix = access.prefix
    return [(re.escape(prefix) + "oauth_callback", CallbackHandler, {"access": access}),
            (re.escape(prefix) + ".*", MovedHandler, {"access": access, "table": table})]


def serve_apps(config, log: logging.Logger, *, base_url: str, hub_prefix: str, hub_api_url: str, client_id: str,
               token: str, key: bytes) -> tuple[RouteTable, AppAccess, list, list]:
    """For the runner's ``main()``: the app route table and gate (for :func:`follow_apps`), the URL rules
    of the apps' port and those of the hub's origin."""
    from ..apps.templates import Apps

    apps = Apps.instance(config=config)
    access = AppAccess(config=config, log=log, base_url=base_url, hub_prefix=hub_prefix, hub_api_url=hub_api_url,
                       client_id=client_id, client_secret=token, key=key, hosts=HostMap(apps.origin))
    table = RouteTable()
    return (table, access, handlers(table, access, EndpointForwarder(config=config, log=log)),
            hub_handlers(table, access))


class MovedHandler(web.RequestHandler):
    """``<base_url>apps/<group>/<app>/<rest>`` on the hub's origin: the app moved to its own origin. GET and
    HEAD of an installed app are redirected there; anything else is 404 (never served here)."""

    def initialize(self, access: AppAccess, table: RouteTable):
        self.access, self.table = access, table

    def set_default_headers(self):  # on the hub's origin: nothing of it may run there
        self.set_header("Content-Security-Policy", SANDBOX)
        self.set_header("X-Content-Type-Options", "nosniff")

    def check_xsrf_cookie(self):  # nothing here changes anything
        pass

    def _moved(self):
        m = _GROUP_APP_REST.fullmatch(self.request.path[len(self.access.prefix):])
        group, name = (unquote(m.group(1)), m.group(2)) if m else ("", "")
        if m is None or f"{group}/{name}" not in self.table.deployments:
            raise web.HTTPError(404, "No such app")
        rest = m.group(3) if m.group(3).startswith("/") else "/" + m.group(3)
        query = f"?{self.request.query}" if self.request.query else ""
        self.redirect(self.access.hosts.origin(group, name) + rest + query, status=302)

    get = head = _moved

    def post(self, *args):
        raise web.HTTPError(404, "No such app here: apps are served at their own address")

    put = patch = delete = options = post

    def write_error(self, status_code, **kwargs):
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}: {self._reason}\n")


class AppExchange(_Exchange):
    """One request to an app: the route, then the access check (awaited before anything is read or sent)."""

    noun = "App"
    keep_host = True
    user = ""  # the hub user the check found ("" for a public app)

    sandbox = False  # the app's own origin: its pages run there as themselves

    def admit(self, start_line, headers):
        access: AppAccess = self.ep.extra["access"]
        self.target = start_line.path
        self.browser = "text/html" in headers.get("Accept", "")
        found = access.hosts.find(self.host or "")
        if found is None:
            return self._refuse(404, "No such app")
        group, name = found
        if self.target.split("?", 1)[0] == LOGIN_PATH:
            return self._logged_in(access, headers)
        d = self.ep.table.deployments.get(f"{group}/{name}")
        if d is None:
            return self._refuse(404, f"No such app: {group}/{name}")
        self.dep = d
        d.requests += 1
        route: AppRoute = d.route
        self.tail = start_line.path
        if route.access == "public":
            return True
        return self._check(headers, route)

    def _logged_in(self, access: AppAccess, headers) -> bool:
        """``/.hubfront-login?ticket=…``: the browser comes back from the hub's login with a one-time ticket
        for this host; its cookie is set here, on this host only."""
        ticket = parse_qs(urlsplit(self.target).query).get("ticket", [""])[0]
        secure = is_secure(headers, self.conn.context.protocol) or access.hosts.template.startswith("https:")
        done = access.redeem(ticket, self.host or "", headers.get("Cookie", ""), secure)
        if done is None:
            return self._refuse(400, "This login is not this browser's, or it is too old: open the app again")
        next_path, cookies = done
        return self._refuse(302, "Logged in", {"Location": next_path, "Set-Cookie": cookies,
                                               "Cache-Control": "no-store"})

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
            location, cookie = access.login(access.hosts.origin(route.group, route.deployment_id.split("/")[-1]),
                                            self.target, is_secure(headers, ctx.protocol)
                                            or access.hosts.template.startswith("https:"))
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
        access: AppAccess = self.ep.extra["access"]
        home = html.escape(access.hub_url.rstrip("/") + access.hub_prefix + "home")  # the hub's own origin
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
def read_routes(db_url: str) -> dict[str, AppRoute]:
    """Every installed app's route, from the ``apps`` rows (uninstalling ones left out)."""
    with read_scope(db_url) as s:
        rows = s.execute(select(App.group, App.name, App.access, App.phase, App.endpoint)
                         .where(App.delete_requested.is_(False))).all()
    now, routes = time.monotonic(), {}
    for group, name, access, phase, endpoint in rows:
        key = f"{group}/{name}"
        running = phase == "Running" and bool(endpoint)
        routes[key] = AppRoute(key, access if access in ACCESS_SCOPES else "group", (endpoint,) if running else (),
                               now, {}, group, phase)
    return routes


def sync_routes(table: RouteTable, routes: dict[str, AppRoute], hosts: HostMap | None = None) -> None:
    """Make the table hold ``routes``: new and changed ones set, gone ones removed; an endpoint taken out
    after a failure comes back with the next read. ``hosts`` then maps the apps' host names."""
    for key in [k for k in table.deployments if k not in routes]:
        table.remove(key)
    for key, route in routes.items():
        d = table.deployments.get(key)
        if d is None or d.out or replace(d.route, checked=route.checked) != route:
            table.set(route)
    if hosts is not None:
        hosts.update((r.group, key.split("/")[-1]) for key, r in routes.items())


async def follow_apps(db_url: str, table: RouteTable, hosts: HostMap | None = None, interval: float = 0.25,
                      log: logging.Logger | None = None) -> None:
    """For ever: the app route table and host map follow the ``apps`` rows (read every ``interval`` seconds)."""
    log = log or logging.getLogger("hubfront.runner")
    logged = 0.0
    while True:
        try:
            sync_routes(table, read_routes(db_url), hosts)
        except Exception:  # noqa: BLE001 - the DB comes back; the routes stay as they were meanwhile
            if time.monotonic() - logged > _LOGGED:
                logged = time.monotonic()
                log.warning("Apps: cannot read the apps' routes", exc_info=True)
        await asyncio.sleep(interval)
