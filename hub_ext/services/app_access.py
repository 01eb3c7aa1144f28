"""Who may reach an app at ``/apps/<group>/<app>/``: asked of the hub on every request (issue 13).

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
scoped to ``<base_url>apps/``, HttpOnly, SameSite=Lax, Secure over https. A browser without
one is sent to the hub's OAuth authorize page and comes back to ``<base_url>apps/oauth_callback``
(:class:`CallbackHandler`); its ``state`` holds the page to return to, encrypted, and names a
short-lived cookie that binds the round trip to the browser that started it.

Neither credential nor the hub's cookies reach an app (:mod:`.forward_apps`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from urllib.parse import urlencode

from cryptography.fernet import Fernet, InvalidToken
from tornado import httputil, web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Bytes, Float, Int, Unicode
from traitlets.config import LoggingConfigurable

COOKIE = "hubfront-apps"  # the encrypted hub token of a browser
STATE_COOKIE = "hubfront-apps-oauth-"  # + the login's nonce: this browser started that login


class HubUnreachable(Exception):
    """The hub did not answer a check: the request is refused (503), never let through."""


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

    base_url = Unicode("/")  # the hub's public base URL; apps are at <base_url>apps/
    hub_prefix = Unicode("/hub/")  # the hub's public prefix (its OAuth pages)
    hub_api_url = Unicode()  # the hub's API as the runner reaches it
    client_id = Unicode()  # the runner's OAuth client (service-<name>)
    client_secret = Unicode()  # the runner's API token
    key = Bytes()  # the portal's Fernet key

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fernet = Fernet(self.key)
        self.client = AsyncHTTPClient(force_instance=True, max_clients=self.max_checks)
        self.checks: dict[str, asyncio.Future] = {}  # credential -> the check on its way

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
        """A ``Set-Cookie`` value scoped to the apps (``max_age`` 0 removes it)."""
        parts = [f"{name}={value}", f"Path={self.prefix}", "HttpOnly", "SameSite=Lax"]
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
        request = HTTPRequest(f"{self.hub_api_url.rstrip('/')}/user", headers={"Authorization": f"token {token}"},
                              connect_timeout=self.check_timeout, request_timeout=self.check_timeout)
        try:
            response = await self.client.fetch(request)
        except HTTPClientError as exc:
            if exc.code in (401, 403):
                return None
            raise HubUnreachable(f"the hub answered {exc.code}") from exc
        except (OSError, asyncio.TimeoutError) as exc:
            raise HubUnreachable(repr(exc)) from exc
        return json.loads(response.body)

    # -- the browser's login --------------------------------------------------------------------------
    def login(self, next_url: str, secure: bool) -> tuple[str, str]:
        """Where to send a browser to log in, and the cookie that marks the login as this browser's."""
        nonce = secrets.token_urlsafe(12)
        state = self.seal(json.dumps({"next": next_url, "nonce": nonce}))
        query = urlencode({"client_id": self.client_id, "redirect_uri": self.redirect_uri,
                           "response_type": "code", "state": state})
        cookie = self.cookie(STATE_COOKIE + nonce, "1", secure, self.login_timeout)
        return f"{self.hub_prefix}api/oauth2/authorize?{query}", cookie

    def returning(self, state: str, cookies: dict) -> tuple[str, str] | None:
        """(the page to return to, the login's nonce) of a valid state this browser started, else None."""
        opened = self.unseal(state, ttl=self.login_timeout)
        try:
            data = json.loads(opened) if opened else {}
        except ValueError:
            data = {}
        next_url, nonce = str(data.get("next") or ""), str(data.get("nonce") or "")
        if not nonce or STATE_COOKIE + nonce not in cookies:
            return None
        if not next_url.startswith(self.prefix) or "//" in next_url or "\\" in next_url:
            next_url = self.prefix  # only back to an app: never elsewhere
        return next_url, nonce

    async def token_for_code(self, code: str) -> str:
        """Finish the OAuth login: the hub's token for the code it gave the browser."""
        body = urlencode({"client_id": self.client_id, "client_secret": self.client_secret,
                          "grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri})
        response = await self.client.fetch(HTTPRequest(
            f"{self.hub_api_url.rstrip('/')}/oauth2/token", method="POST", body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"}, request_timeout=self.check_timeout))
        return json.loads(response.body)["access_token"]


def is_secure(headers, protocol: str) -> bool:
    """Whether the browser came over https (the proxy says so in ``X-Forwarded-Proto``)."""
    return (headers.get("X-Forwarded-Proto") or protocol).split(",")[0].strip().lower() == "https"


class CallbackHandler(web.RequestHandler):
    """``<base_url>apps/oauth_callback``: the hub sends the browser back here with a code."""

    def initialize(self, access: AppAccess):
        self.access = access

    async def get(self):
        access, secure = self.access, is_secure(self.request.headers, self.request.protocol)
        cookies = httputil.parse_cookie(self.request.headers.get("Cookie", ""))
        back = access.returning(self.get_query_argument("state", ""), cookies)
        code = self.get_query_argument("code", "")
        if back is None or not code:
            raise web.HTTPError(400, "This login is not this browser's, or it is too old: open the app again")
        next_url, nonce = back
        started = time.monotonic()
        try:
            token = await access.token_for_code(code)
        except HTTPClientError as exc:
            access.log.warning("Apps login: the hub refused the code (%s)", exc.code)
            raise web.HTTPError(400, "The hub refused this login: open the app again") from exc
        except (OSError, asyncio.TimeoutError, KeyError, ValueError) as exc:
            access.log.warning("Apps login: no token after %.1f s: %r", time.monotonic() - started, exc)
            raise web.HTTPError(503, "The hub cannot be reached: try again") from exc
        self.add_header("Set-Cookie", access.cookie(STATE_COOKIE + nonce, "", secure, 0))
        self.add_header("Set-Cookie", access.cookie(COOKIE, access.seal(token), secure))
        self.set_header("Cache-Control", "no-store")
        self.redirect(next_url)

    def _request_summary(self) -> str:  # the access log: not the one-time code nor the state
        return f"{self.request.method} {self.request.path} ({self.request.remote_ip})"

    def write_error(self, status_code, **kwargs):
        message = getattr(kwargs.get("exc_info", (None, None))[1], "log_message", None) or self._reason
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code}: {message}\n")
