"""What an administrator decides about an account: a temporary password that must
be changed, or the account disabled.

Both flags live in ``login_state`` (keyed by username, so they also apply to
users of an identity provider). The hub asks on every request whether the
caller is restricted (hub_ext.auth.gate), so the answer comes from a snapshot of
the few restricted usernames that is read again every few seconds, and at once
after a change made in this process.
"""

from __future__ import annotations

import time

from sqlalchemy import or_, select

from ..store import session_scope
from ..store.models_accounts import LoginState

PASSWORD = "password"  # must change a temporary password first
DISABLED = "disabled"

_SNAPSHOT_SECONDS = 5.0
_snapshots: dict[str, tuple[float, dict[str, str]]] = {}


def _restricted(db_url: str) -> dict[str, str]:
    hit = _snapshots.get(db_url)
    if hit and time.monotonic() - hit[0] < _SNAPSHOT_SECONDS:
        return hit[1]
    c = LoginState
    with session_scope(db_url) as s:
        rows = s.execute(select(c.username, c.must_change_password, c.disabled)
                         .where(or_(c.must_change_password.is_(True), c.disabled.is_(True)))).all()
    restricted = {name: DISABLED if disabled else PASSWORD for name, _, disabled in rows}
    _snapshots[db_url] = (time.monotonic(), restricted)
    return restricted


def restriction(db_url: str, username: str) -> str | None:
    """DISABLED, PASSWORD (a temporary password to change), or None (no restriction)."""
    return _restricted(db_url).get(username)


def _set(db_url: str, username: str, **flags) -> None:
    _snapshots.pop(db_url, None)
    with session_scope(db_url) as s:
        row = s.get(LoginState, username)
        if row is None:
            row = LoginState(username=username, failures=0, must_change_password=False, disabled=False)
            s.add(row)
        for key, value in flags.items():
            setattr(row, key, bool(value))


def must_change_password(db_url: str, username: str) -> bool:
    with session_scope(db_url) as s:
        return bool(s.scalar(select(LoginState.must_change_password).where(LoginState.username == username)))


def set_must_change_password(db_url: str, username: str, value: bool) -> None:
    _set(db_url, username, must_change_password=value)


def is_disabled(db_url: str, username: str) -> bool:
    with session_scope(db_url) as s:
        return bool(s.scalar(select(LoginState.disabled).where(LoginState.username == username)))


def set_disabled(db_url: str, username: str, value: bool) -> None:
    _set(db_url, username, disabled=value)
