"""Portal admin page for users (hub admins only) and its REST twins."""

from __future__ import annotations

import asyncio

from jupyterhub.scopes import needs_scope
from tornado import web

from ...auth import account_settings
from ..base import PortalAPIHandler, PortalHandler
from . import users


class UsersAdminPage(PortalHandler):
    """GET/POST /hub/portal/admin/users."""

    def require_admin(self):
        if not self.current_user.admin:
            raise web.HTTPError(403, "Only administrators may manage users")

    @property
    def local(self) -> bool:
        return bool(getattr(self.authenticator, "local_accounts", False))

    async def _show(self, errors=None, created=None, notice=""):
        if errors:
            self.set_status(400)
        if created:
            self.set_header("Cache-Control", "no-store")
        default_2fa = getattr(self.authenticator, "require_2fa", False)
        await self.render_portal(
            "portal/users_admin.html", users=users.listing(self.db, self.db_url),
            groups=users.groups_with_admins(self.db), errors=errors or {}, created=created,
            notice=notice, local=self.local,
            require_2fa=account_settings.require_2fa(self.db_url, default_2fa) if self.local else False,
        )

    @web.authenticated
    async def get(self):
        self.require_admin()
        await self._show()

    @web.authenticated
    async def post(self):
        self.require_admin()
        action = self.get_body_argument("action", "")
        name = self.get_body_argument("username", "").strip()
        if action == "create":
            return await self._create(name)
        if action == "group_admins":
            group = self.get_body_argument("group", "")
            try:
                users.set_group_admins(self.db, group, self.get_body_arguments("admins"))
            except LookupError:
                raise web.HTTPError(404, f"No such group: {group}") from None
            except ValueError as exc:
                return await self._show({"admins": str(exc)})
            return await self._show(notice=f"Admins of {group} saved.")
        if not self.local:
            raise web.HTTPError(403, "Accounts are managed by the identity provider")
        if action == "require_2fa":
            account_settings.set_require_2fa(self.db_url, self.get_body_argument("value", "") == "on")
            return await self._show(notice="Two-factor setting saved.")
        if action in ("unlock", "reset_2fa"):
            if self.find_user(name) is None:
                raise web.HTTPError(404, f"No such user: {name}")
            getattr(users, action)(self.db_url, name)
            what = "unlocked" if action == "unlock" else "2FA reset"
            return await self._show(notice=f"{name}: {what}.")
        raise web.HTTPError(400, "action: unknown")

    async def _create(self, name: str):
        if not self.local:
            raise web.HTTPError(403, "Accounts are managed by the identity provider")
        password = self.get_body_argument("password", "") or users.temporary_password()
        errors = users.new_account_errors(self.db, self.db_url, name, password)
        groups = self.get_body_arguments("groups")
        missing = [g for g in groups if users.find_group(self.db, g) is None]
        if missing:
            errors["groups"] = f"unknown group(s): {', '.join(missing)}"
        if errors:
            return await self._show(errors)
        await asyncio.to_thread(users.create_account, self.db_url, name, password, True)
        user = self.user_from_username(name)
        for g in groups:
            users.join_group(self.db, user.orm_user, g)
        await self._show(created={"username": name, "password": password})


class UserUnlockAPI(PortalAPIHandler):
    """POST /hub/api/portal/admin/users/{name}/unlock."""

    @needs_scope("admin:users")
    def post(self, name):
        if self.find_user(name) is None:
            raise web.HTTPError(404, f"No such user: {name}")
        users.unlock(self.db_url, name)
        self.write_json({"name": name, "locked": False})


class UserTwoFactorAPI(PortalAPIHandler):
    """DELETE /hub/api/portal/admin/users/{name}/2fa: reset a user's 2FA."""

    @needs_scope("admin:users")
    def delete(self, name):
        if self.find_user(name) is None:
            raise web.HTTPError(404, f"No such user: {name}")
        users.reset_2fa(self.db_url, name)
        self.write_json({"name": name, "two_factor": False})


handlers = [
    (r"/portal/admin/users", UsersAdminPage),
    (r"/api/portal/admin/users/([^/]+)/unlock", UserUnlockAPI),
    (r"/api/portal/admin/users/([^/]+)/2fa", UserTwoFactorAPI),
]
