"""One hub-wide check of what an administrator decided about an account.

- A temporary password must be changed first: until then every page sends the
  user to Change Password and every API call or token request is refused (403)
  with :data:`PASSWORD_MESSAGE`.
- A disabled account is refused everything (403, :data:`DISABLED_MESSAGE`).

It is one mechanism for every route, the portal's and JupyterHub's own
(``/hub/home``, ``/hub/spawn``, ``/hub/token``, the REST API): the
authenticator's ``get_handlers()`` calls :func:`install`, which watches
``JupyterHub.handlers``. JupyterHub assigns that route table right after
``get_handlers()`` returns, and each handler class derived from its
``BaseHandler`` is then replaced by a subclass with :class:`AccountGate` in
front, whose ``prepare()`` runs after JupyterHub has identified the caller.
A handler opts out with ``hubfront_allow_temporary_password = True`` (the
Change Password page and API); login and logout always pass. The same wrapping
gives every route the one check of a ``next`` URL (``redirects.NextUrlCheck``).
"""

from __future__ import annotations

import math

from jupyterhub.handlers.base import BaseHandler
from jupyterhub.handlers.login import LoginHandler, LogoutHandler
from jupyterhub.user import User
from tornado import web

from ..redirects import NextUrlCheck
from . import account_state

PASSWORD_MESSAGE = ("Password change required: you signed in with a temporary password. "
                    "Change it at {url} (or PUT /hub/api/portal/me/password) before using the hub.")
DISABLED_MESSAGE = "This account is disabled. Ask an administrator to enable it."
CHANGE_PATH = "portal/account/password?required=1"


def change_password_url(hub_base_url: str) -> str:
    return hub_base_url + CHANGE_PATH


class AccountGate:
    """Put in front of a hub handler class by :func:`gated`."""

    hubfront_gated = True

    def _refusal(self, username: str) -> tuple[str, str] | None:
        """(restriction, message) if ``username`` may not go on with this request, else None."""
        db_url = self.settings.get("hubfront_db_url")
        if not db_url or isinstance(self, (LoginHandler, LogoutHandler)):
            return None
        reason = account_state.restriction(db_url, username)
        if reason == account_state.DISABLED:
            return reason, DISABLED_MESSAGE
        if reason == account_state.PASSWORD and not getattr(self, "hubfront_allow_temporary_password", False):
            token = self.get_token()
            # a single-user server's own token reports activity: that is the server, not the user
            if token is not None and (token.note or "").startswith("Server at "):
                return None
            return reason, PASSWORD_MESSAGE.format(url=self.hub.base_url + CHANGE_PATH.split("?")[0])
        return None

    async def prepare(self):
        await super().prepare()
        user = self.current_user
        refusal = self._refusal(user.name) if isinstance(user, User) else None
        if refusal is None:
            return
        reason, message = refusal
        is_api = self.request.path.startswith(self.hub.base_url + "api/")
        if reason == account_state.PASSWORD and not is_api and self.request.method in ("GET", "HEAD"):
            self.redirect(change_password_url(self.hub.base_url))
            raise web.Finish()
        raise web.HTTPError(403, message)

    async def authenticate(self, data):
        """Credentials in a request body (``POST /hub/api/users/{name}/tokens`` with ``auth``)."""
        model = await super().authenticate(data)
        name = model.get("name") if isinstance(model, dict) else model
        if name and not isinstance(self, LoginHandler):
            refusal = self._refusal(name)
            if refusal:
                self._hubfront_refusal = refusal[1]
                return None  # JupyterHub answers 403; write_error says why
        return model

    def write_error(self, status_code, **kwargs):
        refusal = getattr(self, "_hubfront_refusal", None)
        if refusal and status_code == 403:
            retry = getattr(self, "_hubfront_retry_after", 0)  # the sign-in throttle (token API)
            if retry:
                status_code = 429
                self.set_status(429)
                self.set_header("Retry-After", str(math.ceil(retry)))
            exc = web.HTTPError(status_code, refusal)
            kwargs["exc_info"] = (web.HTTPError, exc, None)
        super().write_error(status_code, **kwargs)


def gated(cls):
    """``cls`` with the gate in front (the same class if it is no hub handler or already gated),
    and :func:`redirects.safe_next` as its check of ``next`` (JupyterHub's pages' and the portal's alike)."""
    if not (isinstance(cls, type) and issubclass(cls, BaseHandler)) or getattr(cls, "hubfront_gated", False):
        return cls
    front = (AccountGate,) if issubclass(cls, NextUrlCheck) else (AccountGate, NextUrlCheck)
    return type(cls.__name__, (*front, cls), {"__module__": cls.__module__, "__doc__": cls.__doc__})


def _gate_routes(change) -> None:
    routes = change["new"]
    for i, route in enumerate(routes):
        if isinstance(route, tuple) and len(route) >= 2:
            cls = gated(route[1])
            if cls is not route[1]:
                routes[i] = (route[0], cls, *route[2:])


def install(app, db_url: str) -> None:
    """Gate every route of ``app`` (a JupyterHub) once it sets its route table."""
    app.tornado_settings["hubfront_db_url"] = db_url
    if not getattr(app, "_hubfront_gate_installed", False):
        app._hubfront_gate_installed = True
        app.observe(_gate_routes, names="handlers")
