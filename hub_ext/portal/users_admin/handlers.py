"""Portal admin page for users (hub admins only) and its REST twins."""

from __future__ import annotations

import asyncio

from jupyterhub.scopes import needs_scope
from tornado import web

from ...auth import account_settings, accounts
from ...auth.sessions import end_other_sessions
from ...bodies import NoFields
from ..common.base import PortalAPIHandler, PortalHandler
from . import users


class UsersAdminPage(PortalHandler):
    """GET/POST /hub/portal/admin/users."""

    def require_admin(self):
        if not self.current_user.admin:
            raise web.HTTPError(403, "Only administrators may manage users")

    @property
    def local(self) -> bool:
        return bool(getattr(self.authenticator, "local_accounts", False))

    @property
    def idp_groups(self) -> bool:
        """Group membership comes from the identity provider at each login (OAuth mode)."""
        return bool(getattr(self.authenticator, "manage_groups", False))

    async def _show(self, errors=None, created=None, notice="", reset=None):
        if errors:
            self.set_status(400)
        if created or reset:
            self.set_header("Cache-Control", "no-store")  # a temporary password, shown once
        default_2fa = getattr(self.authenticator, "require_2fa", False)
        throttle = getattr(self.authenticator, "throttle", None)
        await self.render_portal(
            "portal/users_admin.html", users=users.listing(self.db, self.db_url, throttle),
            groups=users.groups_with_admins(self.db), errors=errors or {}, created=created,
            notice=notice, local=self.local, reset=reset, me=self.current_user.name,
            idp_groups=self.idp_groups,
            require_2fa=account_settings.require_2fa(self.db_url, default_2fa) if self.local else False,
        )

    @web.authenticated
    async def get(self):
        self.require_admin()
        await self._show()

    # actions on one account (method ``_<action>``): whether it needs local accounts
    ACCOUNT_ACTIONS = {
        "unlock": True, "reset_2fa": True, "reset_password": True,
        "add_group": False, "remove_group": False, "make_admin": False, "remove_admin": False,
        "disable": False, "enable": False,
    }

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
        if action == "require_2fa":
            self.require_local()
            account_settings.set_require_2fa(self.db_url, self.get_body_argument("value", "") == "on")
            return await self._show(notice="Two-factor setting saved.")
        if action not in self.ACCOUNT_ACTIONS:
            raise web.HTTPError(400, "action: unknown")
        if self.ACCOUNT_ACTIONS[action]:
            self.require_local()
        user = self.find_user(name)
        if user is None:
            raise web.HTTPError(404, f"No such user: {name}")
        return await getattr(self, f"_{action}")(user)

    def require_local(self):
        if not self.local:
            raise web.HTTPError(403, "Accounts are managed by the identity provider")

    def _record(self, user, action: str, message: str, group: str | None = None) -> None:
        users.record(self.db_url, actor=self.current_user.name, username=user.name, action=action,
                     message=message, group=group)

    async def _unlock(self, user):
        users.unlock(self.db_url, actor=self.current_user.name, username=user.name)
        await self._show(notice=f"{user.name}: failed sign-ins cleared; no wait before the next attempt.")

    async def _reset_2fa(self, user):
        users.reset_2fa(self.db_url, actor=self.current_user.name, username=user.name)
        await self._show(notice=f"{user.name}: 2FA reset.")

    async def _reset_password(self, user):
        password = await asyncio.to_thread(accounts.reset_password, self.db_url, user.name)
        end_other_sessions(self.db, user.orm_user, None)
        self._record(user, "password reset", f"Password of {user.name} reset to a temporary one")
        await self._show(reset={"username": user.name, "password": password})

    def _group_argument(self) -> str | None:
        if self.idp_groups:
            raise web.HTTPError(403, "Group membership is managed by the identity provider")
        group = self.get_body_argument("group", "")
        return group if users.find_group(self.db, group) is not None else None

    async def _add_group(self, user):
        group = self._group_argument()
        if group is None:
            return await self._show({"group": "no such group"})
        if not users.join_group(self.db, user.orm_user, group, self.db_url):
            return await self._show({"group": f"{user.name} is already a member of {group}"})
        self._record(user, "added to group", f"{user.name} added to group {group}", group)
        await self._show(notice=f"{user.name}: added to {group}.")

    async def _remove_group(self, user):
        group = self._group_argument()
        if group is None:
            return await self._show({"group": "no such group"})
        try:
            users.leave_group(self.db, user.orm_user, group)
        except ValueError as exc:
            return await self._show({"group": str(exc)})
        self._record(user, "removed from group", f"{user.name} removed from group {group}", group)
        await self._show(notice=f"{user.name}: removed from {group}.")

    def _not_self(self, user, what: str) -> dict:
        return {"username": f"you cannot {what} yourself"} if user.name == self.current_user.name else {}

    async def _make_admin(self, user):
        users.set_admin(self.db, user.orm_user, True)
        self._record(user, "made admin", f"{user.name} made an administrator")
        await self._show(notice=f"{user.name}: now an administrator.")

    async def _remove_admin(self, user):
        errors = self._not_self(user, "remove admin rights from")
        if user.name in self.authenticator.admin_users:
            errors["username"] = f"{user.name} is an administrator by configuration (Authenticator.admin_users)"
        if errors:
            return await self._show(errors)
        users.set_admin(self.db, user.orm_user, False)
        self._record(user, "admin removed", f"{user.name} no longer an administrator")
        await self._show(notice=f"{user.name}: no longer an administrator.")

    async def _disable(self, user):
        errors = self._not_self(user, "disable")
        if errors:
            return await self._show(errors)
        accounts.set_disabled(self.db_url, user.name, True)
        end_other_sessions(self.db, user.orm_user, None)
        for server_name, spawner in list(user.spawners.items()):
            if spawner.active:
                await self.stop_single_user(user, server_name)
        self._record(user, "disabled", f"Account {user.name} disabled")
        await self._show(notice=f"{user.name}: disabled.")

    async def _enable(self, user):
        accounts.set_disabled(self.db_url, user.name, False)
        self._record(user, "enabled", f"Account {user.name} enabled")
        await self._show(notice=f"{user.name}: enabled.")

    async def _create(self, name: str):
        self.require_local()
        password = self.get_body_argument("password", "") or accounts.temporary_password()
        errors = users.new_account_errors(self.db, self.db_url, name, password)
        groups = self.get_body_arguments("groups")
        missing = [g for g in groups if users.find_group(self.db, g) is None]
        if missing:
            errors["groups"] = f"unknown group(s): {', '.join(missing)}"
        if errors:
            return await self._show(errors)
        await asyncio.to_thread(accounts.create_account, self.db_url, name, password, True)
        user = self.user_from_username(name)
        for g in groups:
            users.join_group(self.db, user.orm_user, g, self.db_url)
        await self._show(created={"username": name, "password": password})


class UserUnlockAPI(PortalAPIHandler):
    """POST /hub/api/portal/admin/users/{name}/unlock: clear the account's failed sign-ins (the throttle)."""

    @needs_scope("admin:users")
    def post(self, name):
        if self.find_user(name) is None:
            raise web.HTTPError(404, f"No such user: {name}")
        self.body(NoFields)
        users.unlock(self.db_url, actor=self.current_user.name, username=name)
        self.write_json({"name": name, "locked": False})


class UserTwoFactorAPI(PortalAPIHandler):
    """DELETE /hub/api/portal/admin/users/{name}/2fa: reset a user's 2FA."""

    @needs_scope("admin:users")
    def delete(self, name):
        if self.find_user(name) is None:
            raise web.HTTPError(404, f"No such user: {name}")
        users.reset_2fa(self.db_url, actor=self.current_user.name, username=name)
        self.write_json({"name": name, "two_factor": False})


handlers = [
    (r"/portal/admin/users", UsersAdminPage),
    (r"/api/portal/admin/users/([^/]+)/unlock", UserUnlockAPI),
    (r"/api/portal/admin/users/([^/]+)/2fa", UserTwoFactorAPI),
]
