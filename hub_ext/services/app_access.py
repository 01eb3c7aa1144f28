"""Who may reach an app at its own origin: asked of the hub on every request (issues 13, 20).

An app's ``access`` is ``public`` (anyone, no login), ``users`` (any logged-in hub user)
or ``group`` (members of the app's group, and hub admins). Nothing here keeps an answer
beyond the request that asked for it: every request sends its credential to the hub's
``GET /hub/api/user`` and the answer (name, admin flag, groups) decides. So removing a
member from the group, or logging out of the hub (which revokes the token), cuts access at
the next request. Requests that arrive while a check of the same credential is on its way
share that check's answer; nothing is kept after it returns.

**Credentials.** API clients send a hub API token, ``Authorization: token <t>`` or
``Bearer <t>`` (a notebook's ``$JUPYTERHUB_API_TOKEN``; MLflow's client sends
``Bearer $MLFLOW_TRACKING_TOKEN``). Browsers carry the cookie ``hubfront-apps``: the hub
token of an OAuth login of the runner's service, encrypted with the portal's key (Fernet),
host-only on the app's own host, HttpOnly, SameSite=Lax, Secure over https.

**The browser's login.** The hub accepts one redirect URI for the runner's OAuth client, on the
hub's origin, so a login crosses origins in three steps:

1. the app's host sends a browser without a credential to the hub's authorize page, with a
   ``state`` (encrypted: the app's origin, the page to return to, a nonce) and sets a
   short-lived host-only cookie named after the nonce (this browser started this login);
2. the hub sends it back to ``<base_url>apps/oauth_callback`` on the hub's origin
   (:class:`CallbackHandler`), which trades the code for the token and keeps it under a
   **ticket**: 256 random bits, good once, for ``ticket_timeout`` seconds, for that one host;
3. the browser goes to ``<app origin>/.hubfront-login?ticket=…``; the app's host takes the
   ticket (:meth:`AppAccess.redeem`) only with the nonce's cookie, sets ``hubfront-apps`` there
   and returns to the page. A ticket seen by anyone else is spent or useless on another host.

Neither credential nor the hub's cookies reach an app (:mod:`.forward_apps`).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from urllib.parse import urlencode

from cryptography.fernet import Fernet, InvalidToken
from tornado import httputil, web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Any, Bytes, Float, Int, Unicode
from traitlets.config import LoggingConfigurable

from ..apps.origin import host_of
from ..redirects import safe_next
from .hubapi import HubUnreachable, hub_request

COOKIE = "hubfront-apps"  # the encrypted hub token of a browser
STATE_COOKIE = "hubfront-apps-oauth-"  # + the login's nonce: this browser started that login
LOGIN_PATH = "/.hubfront-login"  # on an app's host: where the login's ticket is taken


def allows(access: str, group: str, user: dict | None) -> bool:
    """Whether ``user`` (the hub's model of the caller, None: anonymous) may use an app of ``group``."""
    if access == "public":
        return True
    if not user or user.get("kind", "user") != "user":  # services' tokens are no users
        return False
    if access == "users":
        return True
    return access == "group" and (bool(user.get("admin")) or group in (user.get("groups") or ()))


class AppAccess(LoggingConfigurable):
    """The apps' gate: credentials, the hub's answer, and the browser's OAuth login (``c.AppAccess.…``)."""

    check_timeout = Float(10.0, help="""Seconds the hub may take to say who a credential belongs to;
        past it the request is answered 503 (never let through).""").tag(config=True)
    login_timeout = Int(600, help="Seconds a browser may take to come back from the hub's login.").tag(config=True)
    max_checks = Int(64, help="Checks sent to the hub at once; more wait their turn.").tag(config=True)
    ticket_timeout = Int(30, help="""Seconds the one-time ticket that carries a login from the hub's origin
        to the app's may wait to be taken.""").tag(config=True)

    base_url = Unicode("/")  # the hub's public base URL; apps are at <base_url>apps/
    hub_prefix = Unicode("/hub/")  # the hub's public prefix (its OAuth pages)
    hub_api_url = Unicode()  # the hub's API as the runner reaches it
    client_id = Unicode()  # the runner's OAuth client (service-<name>)
    client_secret = Unicode()  # the runner's API token
    key = Bytes()  # the portal's Fernet key
    hub_url = Unicode(help="""The hub's public origin as browsers reach it (``https://hub.example.org``): apps
        are on other hosts, so their pages send browsers there to log in. Default: JupyterHub's
        ``public_url`` (the embedded default's jupyterhub_config.py sets its ``bind_url``).""").tag(config=True)
    hosts = Any()  # hub_ext.apps.origin.HostMap: the apps' host names

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fernet = Fernet(self.key)
        if not self.hub_url:
            public = os.environ.get("JUPYTERHUB_PUBLIC_HUB_URL", "")
            self.hub_url = public.split("://", 1)[0] + "://" + public.split("://", 1)[1].split("/", 1)[0] if public else ""
        self.client = AsyncHTTPClient(force_instance=True, max_clients=self.max_checks)
        self.checks: dict[str, asyncio.Future] = {}  # credential -> the check on its way
        self.tickets: dict[str, tuple[float, str, str, str, str]] = {}  # ticket -> expiry, host, token, nonce, next

    @property
    def prefix(self) -> str:
        return self.base_url.rstrip("/") + "/apps/"

    @property
    def redirect_uri(self) -> str:
        return self.prefix + "oauth_callback"  # registered as the service's oauth_redirect_uri (configure.py)

    # -- credentials ------------------------------------------------------------------------------
    def credential(self, headers) -> str | None:
        """The hub token a request carries: its ``Authorization`` (token or bearer), else its cookie."""
        scheme, _, value = (headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip():
            return value.strip()
        sealed = httputil.parse_cookie(headers.get("Cookie", "")).get(COOKIE)
        return self.unseal(sealed) if sealed else None

    def seal(self, token: str) -> str:
        return self.fernet.encrypt(token.encode()).decode()

    def unseal(self, sealed: str, ttl: int | None = None) -> str | None:
        try:
            return self.fernet.decrypt(sealed.encode(), ttl=ttl).decode()
        except (InvalidToken, UnicodeError):
            return None

    def cookie(self, name: str, value: str, secure: bool, max_age: int | None = None) -> str:
        """A ``Set-Cookie`` value for the app's host only (no Domain), all its paths (``max_age`` 0 removes it)."""
        parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if secure:
            parts.append("Secure")
        return "; ".join(parts)

    # -- the hub's answer ---------------------------------------------------------------------------
    async def identify(self, token: str) -> dict | None:
        """The hub's model of the token's owner (name, admin, groups, kind), or None for a token it refuses."""
        check = self.checks.get(token)
        if check is None:
            check = self.checks[token] = asyncio.ensure_future(self._ask(token))
            check.add_done_callback(lambda _: self.checks.pop(token, None))
        return await asyncio.shield(check)

    async def _ask(self, token: str) -> dict | None:
        try:
            response = await self.client.fetch(hub_request(self.hub_api_url, "user", token=token,
                                                           timeout=self.check_timeout))
        except HTTPClientError as exc:
            if exc.code in (401, 403):
                return None
            raise HubUnreachable(f"the hub answered {exc.code}") from exc
        except (OSError, asyncio.TimeoutError) as exc:
            raise HubUnreachable(repr(exc)) from exc
        return json.loads(response.body)

    # -- the browser's login --------------------------------------------------------------------------
    def login(self, origin: str, next_path: str, secure: bool) -> tuple[str, str]:
        """Where to send a browser at the app ``origin`` to log in, and the cookie (on that host) that
        marks the login as this browser's."""
        nonce = secrets.token_urlsafe(12)
        state = self.seal(json.dumps({"origin": origin, "next": next_path, "nonce": nonce}))
        query = urlencode({"client_id": self.client_id, "redirect_uri": self.redirect_uri,
                           "response_type": "code", "state": state})
        cookie = self.cookie(STATE_COOKIE + nonce, "1", secure, self.login_timeout)
        return f"{self.hub_url.rstrip('/')}{self.hub_prefix}api/oauth2/authorize?{query}", cookie

    def returning(self, state: str) -> tuple[str, str, str] | None:
        """(the app's origin, the page to return to, the login's nonce) of a valid state, else None."""
        opened = self.unseal(state, ttl=self.login_timeout)
        try:
            data = json.loads(opened) if opened else {}
        except ValueError:
            data = {}
        origin, next_path, nonce = (str(data.get(k) or "") for k in ("origin", "next", "nonce"))
        if not nonce or not origin or self.hosts is None or self.hosts.find(origin.split("://")[-1]) is None:
            return None
        return origin, safe_path(next_path), nonce

    def ticket(self, origin: str, token: str, nonce: str, next_path: str) -> str:
        """A one-time ticket for the host of ``origin`` that carries ``token`` there (:meth:`redeem`)."""
        now = time.monotonic()
        self.tickets = {t: v for t, v in self.tickets.items() if v[0] > now}
        ticket = secrets.token_urlsafe(32)
        self.tickets[ticket] = (now + self.ticket_timeout, host_of(origin), token, nonce, next_path)
        return ticket

    def redeem(self, ticket: str, host: str, cookie_header: str, secure: bool) -> tuple[str, list[str]] | None:
        """Take ``ticket`` at ``host`` (once): the page to return to and the cookies to set, or None when the
        ticket is unknown, spent, too old, for another host, or this browser did not start its login."""
        found = self.tickets.pop(ticket, None) if ticket else None
        if found is None:
            return None
        expires, for_host, token, nonce, next_path = found
        cookies = httputil.parse_cookie(cookie_header)
        if time.monotonic() > expires or host_of(host) != for_host or STATE_COOKIE + nonce not in cookies:
            return None
        return next_path, [self.cookie(STATE_COOKIE + nonce, "", secure, 0),
                           self.cookie(COOKIE, self.seal(token), secure)]

    async def token_for_code(self, code: str) -> str:
        """Finish the OAuth login: the hub's token for the code it gave the browser."""
        body = urlencode({"client_id": self.client_id, "client_secret": self.client_secret,
                          "grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri})
        response = await self.client.fetch(hub_request(
            self.hub_api_url, "oauth2/token", method="POST", body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=self.check_timeout))
        return json.loads(response.body)["access_token"]


def safe_path(path: str) -> str:
    """``path`` when it is a path of the app's own origin, else ``/``: a login returns only to the app it
    started from. The one redirect check (``hub_ext.redirects.safe_next``) decides."""
    return safe_next(path, fallback="/")


def is_secure(headers, protocol: str) -> bool:
    """Whether the browser came over https (the proxy says so in ``X-Forwarded-Proto``)."""
    return (headers.get("X-Forwarded-Proto") or protocol).split(",")[0].strip().lower() == "https"


class CallbackHandler(web.RequestHandler):
    """``<base_url>apps/oauth_callback``: the hub sends the browser back here with a code."""

    def initialize(self, access: AppAccess):
        self.access = access

    def set_default_headers(self):  # on the hub's origin: its answers are redirects and plain text only
        self.set_header("Content-Security-Policy", "sandbox")
        self.set_header("X-Content-Type-Options", "nosniff")

    async def get(self):
        access = self.access
        back = access.returning(self.get_query_argument("state", ""))
        code = self.get_query_argument("code", "")
        if back is None or not code:
            raise web.HTTPError(400, "This login is too old or not an app's: open the app again")
        origin, next_path, nonce = back
        started = time.monotonic()
        try:
            token = await access.token_for_code(code)
        except HTTPClientError as exc:
            access.log.warning("Apps login: the hub refused the code (%s)", exc.code)
            raise web.HTTPError(400, "The hub refused this login: open the app again") from exc
        except (OSError, asyncio.TimeoutError, KeyError, ValueError) as exc:
            access.log.warning("Apps login: no token after %.1f s: %r", time.monotonic() - started, exc)
            raise web.HTTPError(503, "The hub cannot be reached: try again") from exc
        self.set_header("Cache-Control", "no-store")
        ticket = access.ticket(origin, token, nonce, next_path)
        self.redirect(f"{origin}{LOGIN_PATH}?" + urlencode({"ticket": ticket}))  # our own sealed state's origin

    def _request_summary(self) -> str:  # the access log: not the one-time code nor the state
        return f"{self.request.method} {self.request.path} ({self.request.remote_ip})"

    def write_error(self, status_code, **kwargs):
        message = getattr(kwargs.get("exc_info", (None, None))[1], "log_message", None) or self._reason
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}: {message}\n")
