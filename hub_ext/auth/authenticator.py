"""The local authenticator: accounts in the portal database, argon2 passwords.

It is also where the portal plugs into the hub: JupyterHub routes the
authenticator's ``get_handlers()`` before its own, which is how ``/hub/home``
is replaced by the portal home (``extra_handlers`` would be routed after).
"""

from __future__ import annotations

import asyncio
import os

from jupyterhub.auth import Authenticator
from traitlets import Unicode, default

from ..settings import Hubfront
from .passwords import verify_password


class PortalHandlersMixin:
    """Adds the portal's pages and APIs, and runs its start-up once."""

    def get_handlers(self, app):
        handlers = list(super().get_handlers(app))
        from ..portal import portal_handlers, startup

        hubfront = Hubfront.instance(config=app.config)
        startup(app, hubfront)
        return portal_handlers(hubfront) + handlers


class HubfrontAuthenticator(PortalHandlersMixin, Authenticator):
    """Local accounts with argon2-hashed passwords (the embedded default)."""

    bootstrap_admin = Unicode(
        help="""Username of the admin account created on first start. Its password is
        $HUBFRONT_ADMIN_PASSWORD, else generated, printed once and written to
        <data_dir>/admin-password. Defaults to $HUBFRONT_ADMIN_USER or 'admin'.""",
    ).tag(config=True)

    @default("bootstrap_admin")
    def _bootstrap_admin_default(self):
        return os.environ.get("HUBFRONT_ADMIN_USER", "admin")

    @default("allow_all")
    def _allow_all_default(self):
        # The account table is the allow list: only people with an account can
        # authenticate at all.
        return True

    @property
    def hubfront(self) -> Hubfront:
        return Hubfront.instance(config=self.config)

    async def authenticate(self, handler, data):
        username = self.normalize_username((data or {}).get("username", ""))
        password = (data or {}).get("password", "")
        if not username or not password:
            return None
        # argon2 is deliberately slow: keep it off the hub's event loop.
        ok = await asyncio.to_thread(verify_password, self.hubfront.db_url, username, password)
        if not ok:
            self.log.warning("Failed login for %s", username)
            return None
        return username
