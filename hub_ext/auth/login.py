"""The login form in two steps: password, then (for accounts with 2FA) the code.

After a correct password for an account with 2FA, ``authenticate()`` returns
None and leaves a short-lived signed ticket on the handler; this handler then
shows the same form with the one-time code field instead of the password. A
wrong password gets the stock "Invalid username or password" whether or not
2FA is on. An attempt the throttle refuses (``throttle``) is answered at once
(429, ``Retry-After``) saying when to try again, whatever was typed; a failure
that starts a wait says so too. Neither tells whether the account exists.
"""

from __future__ import annotations

import math

from jupyterhub.handlers.login import LoginHandler

from . import account_settings, account_state, otp
from .gate import DISABLED_MESSAGE, change_password_url
from .throttle import retry_message

INVALID = "Invalid username or password"
INVALID_CODE = "Invalid authentication code"


class HubfrontLoginHandler(LoginHandler):
    def _form_data(self) -> dict:
        data = {}
        for arg in self.request.body_arguments:
            if arg == "_xsrf":
                continue
            data[arg] = self.get_argument(arg, strip=arg == "username")
        data.setdefault("username", "")
        return data

    def _after_login_url(self, user) -> str:
        """Where a fresh login lands: the required account steps first, then ``next``."""
        auth = self.authenticator
        db_url = auth.hubfront.db_url
        base = self.hub.base_url
        if account_state.must_change_password(db_url, user.name):
            return change_password_url(base)
        if account_settings.require_2fa(db_url, auth.require_2fa) and not otp.is_enabled(db_url, user.name):
            return base + "portal/account/2fa?required=1"
        return self.get_next_url(user)

    async def post(self):
        data = self._form_data()
        user = await self.login_user(data)
        if user:
            self._jupyterhub_user = user
            self.redirect(self._after_login_url(user))
            return
        username = data["username"][:255]
        retry = getattr(self, "_hubfront_retry_after", 0)
        wait = getattr(self, "_hubfront_wait_after", 0)
        ticket = getattr(self, "_hubfront_otp_ticket", None) or getattr(self, "_hubfront_otp_retry", None)
        if not ticket and retry and self.get_body_argument("otp_ticket", ""):
            ticket = self.get_body_argument("otp_ticket")  # throttled at the code step: ask for the code again
        if getattr(self, "_hubfront_disabled", False):
            self.set_status(403)
            html = await self._render(login_error=DISABLED_MESSAGE, username=username)
        elif retry:
            self.set_status(429)
            self.set_header("Retry-After", str(math.ceil(retry)))
            html = await self._render(login_error=retry_message(retry), username=username,
                                      otp_step=bool(ticket), otp_ticket=ticket)
        elif ticket:
            failed = getattr(self, "_hubfront_otp_retry", None)
            self.set_status(403 if failed else 200)
            error = (INVALID_CODE + (". " + retry_message(wait) if wait else "")) if failed else None
            html = await self._render(login_error=error, username=username, otp_step=True, otp_ticket=ticket)
        else:
            self.set_status(403)
            html = await self._render(login_error=INVALID + (". " + retry_message(wait) if wait else ""),
                                      username=username)
        self.finish(html)
