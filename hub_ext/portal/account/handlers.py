"""My Account pages (profile, password, 2FA) and their REST twins under /hub/api/portal/me."""

from __future__ import annotations

import asyncio

from jupyterhub.scopes import needs_scope
from tornado import web

from ...auth import account_settings, account_state, otp
from ...auth.passwords import account_exists
from ...auth.passwords import RULES, verify_password
from ...auth.sessions import end_other_sessions
from ...scopes import READ, WRITE
from ..common.base import PortalAPIHandler, PortalHandler
from ..nav import Banner, register_banner
from . import profile

IDP_MESSAGE = "Your password and two-factor authentication are managed by your identity provider."


def _two_factor_banner(orm_user, nav, db_url) -> list:
    """Reminds local users who still lack 2FA when an admin requires it."""
    if not account_settings.require_2fa(db_url) or otp.is_enabled(db_url, orm_user.name):
        return []
    if not account_exists(db_url, orm_user.name):  # OAuth users: the provider's business
        return []
    return [Banner("require-2fa", "Your administrator requires two-factor authentication: "
                   "set it up under User Profile → Manage two-factor authentication.", level="warning")]


register_banner(_two_factor_banner)


class _AccountMixin:
    @property
    def local_accounts(self) -> bool:
        return bool(getattr(self.authenticator, "local_accounts", False))

    def require_local(self):
        if not self.local_accounts:
            raise web.HTTPError(403, IDP_MESSAGE)

    def summary(self) -> dict:
        return profile.summary(self.db_url, self.current_user.orm_user, self.nav().groups, self.local_accounts)

    async def change_password(self, new: str) -> None:
        """Set the password, end the user's other sessions, keep this one."""
        user = self.current_user
        await asyncio.to_thread(profile.change_password, self.db_url, user.name, new)
        account_state.set_must_change_password(self.db_url, user.name, False)
        end_other_sessions(self.db, user.orm_user, self.get_session_cookie())
        if self.get_cookie(self.hub.cookie_name):  # cookie login: keep this session
            self.set_hub_cookie(user)


class AccountPage(_AccountMixin, PortalHandler):
    """GET/POST /hub/portal/account: My Account / User Profile."""

    async def _show(self, errors=None, form=None, saved=False):
        if errors:
            self.set_status(400)
        await self.render_portal("portal/account.html", account=self.summary(), errors=errors or {},
                                 form=form or {}, saved=saved, idp_message=IDP_MESSAGE,
                                 full_name_max=profile.FULL_NAME_MAX)

    @web.authenticated
    async def get(self):
        await self._show(saved=self.get_argument("saved", "") == "1")

    @web.authenticated
    async def post(self):
        form = {k: self.get_body_argument(k, "") for k in profile.FIELDS}
        changes, errors = profile.validate_profile(form)
        if errors:
            return await self._show(errors=errors, form=form)
        profile.update_profile(self.db_url, self.current_user.name, changes)
        self.redirect(self.hub.base_url + "portal/account?saved=1")


class PasswordPage(_AccountMixin, PortalHandler):
    """GET/POST /hub/portal/account/password: Change Password."""

    hubfront_allow_temporary_password = True  # the one page open until it is changed (auth.gate)

    async def _show(self, errors=None):
        if errors:
            self.set_status(400)
        await self.render_portal(
            "portal/account_password.html", local=self.local_accounts, idp_message=IDP_MESSAGE,
            rules=RULES, errors=errors or {}, changed=self.get_argument("changed", "") == "1",
            required=account_state.must_change_password(self.db_url, self.current_user.name),
        )

    @web.authenticated
    async def get(self):
        await self._show()

    @web.authenticated
    async def post(self):
        self.require_local()
        current = self.get_body_argument("current_password", "")
        new = self.get_body_argument("new_password", "")
        confirm = self.get_body_argument("confirm_password", "")
        errors = await asyncio.to_thread(
            profile.password_errors, self.db_url, self.current_user.name, current, new, confirm)
        if errors:
            return await self._show(errors)
        await self.change_password(new)
        self.redirect(self.hub.base_url + "portal/account/password?changed=1")


class TwoFactorPage(_AccountMixin, PortalHandler):
    """GET/POST /hub/portal/account/2fa: enroll (begin, confirm) and disable."""

    @property
    def key(self) -> bytes:
        return self.authenticator.otp_key()

    async def _show(self, errors=None, recovery_codes=None):
        if errors:
            self.set_status(400)
        name = self.current_user.name
        ns = dict(local=self.local_accounts, idp_message=IDP_MESSAGE, errors=errors or {},
                  required=self.get_argument("required", "") == "1", recovery_codes=recovery_codes,
                  enabled=False, enrollment=None, codes_left=0)
        if self.local_accounts:
            ns["enabled"] = otp.is_enabled(self.db_url, name)
            if ns["enabled"]:
                ns["codes_left"] = otp.recovery_codes_left(self.db_url, name)
            else:
                ns["enrollment"] = otp.pending_enrollment(self.db_url, self.key, name, self.authenticator.otp_issuer)
        if recovery_codes:
            self.set_header("Cache-Control", "no-store")
        await self.render_portal("portal/account_2fa.html", **ns)

    @web.authenticated
    async def get(self):
        await self._show()

    @web.authenticated
    async def post(self):
        self.require_local()
        name = self.current_user.name
        action = self.get_body_argument("action", "")
        code = self.get_body_argument("code", "")
        if action == "begin":
            try:
                otp.begin_enrollment(self.db_url, self.key, name, self.authenticator.otp_issuer)
            except ValueError as exc:
                return await self._show({"action": str(exc)})
            return self.redirect(self.hub.base_url + "portal/account/2fa")
        if action == "confirm":
            codes = otp.confirm_enrollment(self.db_url, self.key, name, code)
            if codes is None:
                return await self._show({"code": "does not match: enter the current 6-digit code from your app"})
            return await self._show(recovery_codes=codes)
        if action == "disable":
            password = self.get_body_argument("password", "")
            ok_pw = await asyncio.to_thread(verify_password, self.db_url, name, password)
            errors = {} if ok_pw else {"password": "is not your current password"}
            if ok_pw and not await asyncio.to_thread(otp.verify_code, self.db_url, self.key, name, code):
                errors["code"] = "is not a current authentication code"
            if errors:
                return await self._show(errors)
            otp.disable(self.db_url, name)
            return self.redirect(self.hub.base_url + "portal/account/2fa")
        raise web.HTTPError(400, "action: must be begin, confirm or disable")


class MeAPI(_AccountMixin, PortalAPIHandler):
    """GET/PATCH /hub/api/portal/me: the caller's profile."""

    @needs_scope(READ)
    def get(self):
        self.write_json(self.summary())

    @needs_scope(WRITE)
    def patch(self):
        body = self.body(profile.ProfilePatch)
        changes, errors = profile.validate_profile(body.model_dump(exclude_unset=True))
        if errors:
            self.field_error(errors)
        profile.update_profile(self.db_url, self.current_user.name, changes)
        self.write_json(self.summary())


class PasswordAPI(_AccountMixin, PortalAPIHandler):
    """PUT /hub/api/portal/me/password {current_password, new_password}."""

    hubfront_allow_temporary_password = True

    @needs_scope(WRITE)
    async def put(self):
        self.require_local()
        body = self.body(profile.PasswordChange)
        current, new = body.current_password, body.new_password
        errors = await asyncio.to_thread(profile.password_errors, self.db_url, self.current_user.name, current, new)
        if errors:
            self.field_error(errors)
        await self.change_password(new)
        self.write_json({"status": "changed", "message": "Password changed; your other sessions were signed out."})


handlers = [
    (r"/portal/account", AccountPage),
    (r"/portal/account/password", PasswordPage),
    (r"/portal/account/2fa", TwoFactorPage),
    (r"/api/portal/me", MeAPI),
    (r"/api/portal/me/password", PasswordAPI),
]
