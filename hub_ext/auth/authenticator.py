"""The local authenticator: accounts in the portal database, argon2 passwords,
sign-in throttling (``throttle``) and TOTP two-factor login.

It is also where the portal plugs into the hub: JupyterHub routes the
authenticator's ``get_handlers()`` before its own, which is how ``/hub/home``
(and ``/hub/login``) are replaced by the portal's (``extra_handlers`` would be
routed after).

The one-time code is checked inside ``authenticate()``, so every way of
authenticating with credentials needs it: the login form and ``POST
/hub/api/users/{name}/tokens`` alike.
"""

from __future__ import annotations

import asyncio
import os

from jupyterhub.auth import Authenticator
from traitlets import Bool, Float, Unicode, default

from ..settings import Hubfront
from . import account_state, otp
from .addresses import networks, request_address
from ..keys import hub_key
from .passwords import verify_password
from .throttle import LoginThrottle, retry_message

TICKET_NAME = "hubfront-otp-ticket"


class PortalHandlersMixin:
    """Adds the portal's pages and APIs, and runs its start-up once."""

    # whether passwords and 2FA are managed here (False: by an identity provider)
    local_accounts = False

    def get_handlers(self, app):
        handlers = list(super().get_handlers(app))
        from ..portal import portal_handlers, startup
        from .gate import install

        hubfront = Hubfront.instance(config=app.config)
        startup(app, hubfront)
        install(app, hubfront.db_url)  # temporary passwords and disabled accounts, on every route
        return portal_handlers(hubfront) + handlers


class HubfrontAuthenticator(PortalHandlersMixin, Authenticator):
    """Local accounts with argon2-hashed passwords, throttled sign-ins and TOTP (the embedded default)."""

    local_accounts = True

    bootstrap_admin = Unicode(
        help="""Username of the admin account created on first start. Its password is
        $HUBFRONT_ADMIN_PASSWORD, else generated, printed once and written to
        <data_dir>/admin-password. Defaults to $HUBFRONT_ADMIN_USER or 'admin'.""",
    ).tag(config=True)

    @default("bootstrap_admin")
    def _bootstrap_admin_default(self):
        return os.environ.get("HUBFRONT_ADMIN_USER", "admin")

    secret_key = Unicode(
        help="""Key that encrypts TOTP secrets at rest (a Fernet key, or any long
        random string). Defaults to $HUBFRONT_SECRET_KEY, else a key generated
        into <data_dir>/secret-key with mode 0600. Losing it disables every
        enrolled authenticator app.""",
    ).tag(config=True)

    otp_issuer = Unicode(
        "Hubfront",
        help="Issuer name shown by authenticator apps next to the account.",
    ).tag(config=True)

    require_2fa = Bool(
        False,
        help="""Require two-factor authentication for every local account (users
        without it are sent to enrollment after login). Admins can change it
        from the portal's Users page, which then takes precedence.""",
    ).tag(config=True)

    otp_step_minutes = Float(
        5,
        help="""How long the login form waits for the one-time code after a
        correct password before the password must be entered again.""",
    ).tag(config=True)

    @default("allow_all")
    def _allow_all_default(self):
        # The account table is the allow list: only people with an account can
        # authenticate at all.
        return True

    @property
    def hubfront(self) -> Hubfront:
        return Hubfront.instance(config=self.config)

    def otp_key(self) -> bytes:
        return hub_key(self.hubfront.data_dir, self)  # read once per process (keys.hub_key)

    def get_handlers(self, app):
        from . import account_settings
        from .login import HubfrontLoginHandler

        account_settings.configure_default(self.require_2fa)

        # before the stock /login handler that Authenticator.get_handlers returns
        return [(r"/login", HubfrontLoginHandler)] + super().get_handlers(app)

    # --- authentication ---------------------------------------------------

    _throttle: LoginThrottle | None = None

    @property
    def throttle(self) -> LoginThrottle:
        """The one sign-in throttle (``c.LoginThrottle``), shared with every way of signing in."""
        if self._throttle is None:
            self._throttle = LoginThrottle(parent=self, db_url=self.hubfront.db_url)
        return self._throttle

    def client_address(self, handler) -> str:
        """Whom to throttle: the address the proxy saw (``addresses``), never one the client names."""
        if handler is None:
            return "unknown"
        downstream = networks(getattr(self.parent, "trusted_downstream_ips", None) or [])
        return request_address(handler.request, self.throttle.trusted, downstream)

    async def _throttled(self, handler, username: str, address: str) -> bool:
        """True (and the handler told how long) if ``address`` must still wait before trying ``username``."""
        wait = await asyncio.to_thread(self.throttle.check, username, address)
        if wait <= 0:
            return False
        self.log.warning("Throttled sign-in to %r from %s: %.0f s to wait", username, address, wait)
        if handler is not None:
            handler._hubfront_retry_after = wait
            handler._hubfront_refusal = retry_message(wait)
        return True

    async def _fail(self, handler, username: str, address: str) -> None:
        wait = await asyncio.to_thread(self.throttle.record_failure, username, address)
        if handler is not None:
            handler._hubfront_wait_after = wait
        self.log.warning("Failed sign-in to %r from %s%s", username, address,
                         f" (next attempt in {wait:.0f} s)" if wait else "")

    def _ticket_user(self, handler, ticket: str) -> str | None:
        if handler is None or not ticket:
            return None
        value = handler.get_secure_cookie(TICKET_NAME, value=ticket, max_age_days=self.otp_step_minutes / 1440)
        return value.decode("utf8", "replace") if value else None

    async def authenticate(self, handler, data):
        data = data or {}
        username = self.normalize_username(data.get("username", "") or "")
        password = data.get("password", "") or ""
        code = data.get("otp", "") or ""
        ticket = data.get("otp_ticket", "") or ""
        if not username or len(username) > 255:
            return None
        db = self.hubfront.db_url
        address = self.client_address(handler)
        if await self._throttled(handler, username, address):
            return None  # answered at once, the password not even looked at
        if ticket and not password:
            # second step of the login form: the password was right moments ago
            if self._ticket_user(handler, ticket) != username:
                return None  # expired or forged: the form asks for the password again
        else:
            if not password:
                return None
            # argon2 is deliberately slow: keep it off the hub's event loop.
            ok = await asyncio.to_thread(verify_password, db, username, password)
            if not ok:
                await self._fail(handler, username, address)
                return None
        if account_state.restriction(db, username) == account_state.DISABLED:
            if handler is not None:
                handler._hubfront_disabled = True
            self.log.warning("Refused login for disabled account %s", username)
            return None
        if await asyncio.to_thread(otp.is_enabled, db, username):
            if not code and not ticket:
                # right password, code still to come: the form asks for it
                if handler is not None:
                    handler._hubfront_otp_ticket = handler.create_signed_value(TICKET_NAME, username).decode()
                return None
            if not await asyncio.to_thread(otp.verify_code, db, self.otp_key(), username, code):
                await self._fail(handler, username, address)
                if handler is not None and ticket:
                    handler._hubfront_otp_retry = ticket
                return None
        await asyncio.to_thread(self.throttle.record_success, username, address)
        return username
