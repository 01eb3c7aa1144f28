"""Time as the portal stores and shows it: every stored time is UTC, and SQLite hands datetimes back
naive, so whatever reads one from the database passes it through :func:`utc` (or :func:`iso` for JSON)."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def utc(dt: datetime | None) -> datetime | None:
    """``dt`` as an aware UTC datetime (a naive one is taken as UTC); None stays None."""
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 with the UTC offset (``2026-12-06T12:00:00+00:00``), or None."""
    dt = utc(dt)
    return dt.isoformat() if dt else None
