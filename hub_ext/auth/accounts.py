"""Account operations an administrator performs, whether from the ``hubfront
accounts`` command or the portal's Manage Users page: one implementation.

Only the portal database is touched here (passwords, the sign-in throttle, 2FA, the
temporary-password and disabled flags); hub users and groups are the caller's.
"""

from __future__ import annotations

import secrets

from . import account_state, otp
from .passwords import set_password
from .throttle import LoginThrottle


def temporary_password() -> str:
    """A random password that meets the rules (letter, number and symbol guaranteed)."""
    return f"{secrets.token_urlsafe(12)}-a1"


def create_account(db_url: str, username: str, password: str, must_change: bool) -> None:
    """Create the account or replace its password; ``must_change``: it is temporary."""
    set_password(db_url, username, password)
    account_state.set_must_change_password(db_url, username, must_change)


def reset_password(db_url: str, username: str) -> str:
    """Give the account a new temporary password (returned, to be shown once); clears failed sign-ins."""
    password = temporary_password()
    create_account(db_url, username, password, True)
    unlock(db_url, username)
    return password


def unlock(db_url: str, username: str) -> None:
    """Forget the account's failed sign-ins: no address waits before its next attempt."""
    LoginThrottle(db_url=db_url).clear(username)


def reset_2fa(db_url: str, username: str) -> None:
    otp.disable(db_url, username)


def set_disabled(db_url: str, username: str, disabled: bool) -> None:
    """A disabled account cannot sign in, and its sessions and tokens are refused."""
    account_state.set_disabled(db_url, username, disabled)
