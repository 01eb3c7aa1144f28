"""My Account: the profile (full name, email) and changing one's password.

No tornado here: the handlers parse the request and call these functions.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import Field
from sqlalchemy.exc import IntegrityError

from ...auth import otp
from ...bodies import Strict
from ...auth.passwords import rule_errors, set_password, verify_password

from ...store import session_scope
from ...store.models import utcnow
from ...store.models_accounts import Profile

FULL_NAME_MAX = 64
EMAIL_MAX = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FIELDS = ("full_name", "email")
# bidirectional embeddings, overrides and isolates: they make a name display as something else
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}
UNSAFE_NAME = "must not contain control or bidirectional-override characters"


class ProfilePatch(Strict):
    """``PATCH /api/portal/me``: only the fields sent change."""

    full_name: str = Field(default=None, description=f"1 to {FULL_NAME_MAX} characters, no control characters")
    email: str = Field(default=None, description=f"An email address (at most {EMAIL_MAX} characters), or empty")


class PasswordChange(Strict):
    """``PUT /api/portal/me/password``: the new password must follow the password rules."""

    current_password: str = Field(description="Your current password")
    new_password: str = Field(description="The new password")


def _unsafe_characters(text: str) -> bool:
    """Control characters (tabs and newlines included), line separators, or bidi controls."""
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI_CONTROLS for ch in text)


def get_profile(db_url: str, username: str) -> dict:
    with session_scope(db_url) as s:
        row = s.get(Profile, username)
        return {"full_name": row.full_name if row else "", "email": row.email if row else ""}


def validate_profile(data: dict) -> tuple[dict, dict]:
    """(the changes, errors per field). Only the fields present are changed."""
    changes, errors = {}, {}
    for key in data:
        if key not in FIELDS:
            errors[key] = "unknown field"
    if "full_name" in data:
        name = data["full_name"]
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= FULL_NAME_MAX:
            errors["full_name"] = f"must have 1 to {FULL_NAME_MAX} characters"
        elif _unsafe_characters(name):
            errors["full_name"] = UNSAFE_NAME
        else:
            changes["full_name"] = name.strip()
    if "email" in data:
        email = data["email"]
        if not isinstance(email, str):
            errors["email"] = "must be a string"
        else:
            email = email.strip()
            if email and (len(email) > EMAIL_MAX or not _EMAIL.match(email)):
                errors["email"] = "must be an email address like name@example.org"
            else:
                changes["email"] = email
    return changes, errors


def update_profile(db_url: str, username: str, changes: dict) -> dict:
    """Apply ``changes``, creating the profile row on first use. Two first changes at once
    (two tabs, a script) would both insert: the loser retries as an update."""
    for attempt in range(2):
        try:
            # immediate: a read-then-write transaction that meets another writer fails at once otherwise
            with session_scope(db_url) as s:
                row = s.get(Profile, username)
                if row is None:
                    row = Profile(username=username, full_name="", email="")
                    s.add(row)
                for key, value in changes.items():
                    setattr(row, key, value)
                row.updated = utcnow()
            break
        except IntegrityError:
            if attempt:
                raise
    return get_profile(db_url, username)


def summary(db_url: str, orm_user, groups: list[dict], local_accounts: bool) -> dict:
    """Everything My Account shows, as the API returns it."""
    return {
        "name": orm_user.name,
        **get_profile(db_url, orm_user.name),
        "admin": bool(orm_user.admin),
        "groups": groups,
        "two_factor": otp.is_enabled(db_url, orm_user.name) if local_accounts else None,
        "local_account": local_accounts,
    }


def password_errors(db_url: str, username: str, current: str, new: str, confirm: str | None = None) -> dict:
    """Errors per field for a password change (empty: it may go ahead)."""
    errors = {}
    if not current or not verify_password(db_url, username, current):
        errors["current_password"] = "is not your current password"
    message = rule_errors(new or "", username, current or None)
    if message:
        errors["new_password"] = message
    elif confirm is not None and confirm != new:
        errors["confirm_password"] = "does not match the new password"
    return errors


def change_password(db_url: str, username: str, new: str) -> None:
    set_password(db_url, username, new)
