"""A hard lock after consecutive wrong passwords, kept in the portal database: what
share links' passwords use (a counter named ``share link #<id>``, which no user
can have).

Sign-ins are not locked: they are throttled (``throttle``), since a lock lets
anyone deny an account to its owner.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from ..store import session_scope
from ..store.models import utcnow
from ..store.models_accounts import LoginState

def _aware(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is None:  # SQLite drops the zone
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


def locked_until(db_url: str, username: str, now: datetime | None = None) -> datetime | None:
    """When the lock ends, or None if the account is not locked now."""
    now = now or utcnow()
    with session_scope(db_url) as s:
        until = _aware(s.scalar(select(LoginState.locked_until).where(LoginState.username == username)))
    return until if until and until > now else None


def record_failure(db_url: str, username: str, threshold: int, lock_minutes: float,
                   now: datetime | None = None) -> bool:
    """Count one failure; lock at ``threshold`` consecutive ones. True if now locked."""
    now = now or utcnow()
    with session_scope(db_url, sqlite_begin="IMMEDIATE") as s:
        row = s.get(LoginState, username, with_for_update=True)
        if row is None:
            row = LoginState(username=username, failures=0, must_change_password=False)
            s.add(row)
        until = _aware(row.locked_until)
        if until and until <= now:  # an expired lock starts a fresh count
            row.failures, row.locked_until = 0, None
        row.failures += 1
        row.last_failure = now
        if threshold > 0 and row.failures >= threshold:
            row.locked_until = now + timedelta(minutes=lock_minutes)
        return row.locked_until is not None and _aware(row.locked_until) > now


def record_success(db_url: str, username: str) -> None:
    with session_scope(db_url) as s:
        row = s.get(LoginState, username)
        if row is not None and (row.failures or row.locked_until):
            row.failures, row.locked_until = 0, None


def failures(db_url: str, username: str) -> int:
    with session_scope(db_url) as s:
        return s.scalar(select(LoginState.failures).where(LoginState.username == username)) or 0
