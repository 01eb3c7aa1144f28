"""Logs / Errors: one user's (or, for admins, everyone's) recent activities and errors."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ... import activity
from ..activities.feed import present


class NotAllowed(PermissionError):
    pass


@dataclass(frozen=True)
class LogQuery:
    """What the caller asked for. ``user`` None means everyone (admins only)."""

    user: str | None
    group: str | None = None
    errors_only: bool = False
    before: int | None = None


def query_for(viewer: str, is_admin: bool, user: str | None, group: str | None, errors_only: bool,
              before: int | None) -> LogQuery:
    """A normal user sees only their own entries; admins anyone's, or everyone's."""
    if not is_admin:
        if user not in (None, "", viewer):
            raise NotAllowed("Only administrators can see other users' logs")
        user = viewer
    return LogQuery(user=user or None, group=group or None, errors_only=errors_only, before=before)


def entries(db_url: str, q: LogQuery, zone: ZoneInfo, limit: int,
            group_titles: dict[str, str] | None = None) -> tuple[list[dict], int | None]:
    """The newest entries first, and the ``before`` id of the next (older) page if there is one."""
    rows = activity.recent(db_url, username=q.user, group=q.group, errors_only=q.errors_only,
                           before_id=q.before, limit=limit + 1)
    older = rows[limit - 1].id if len(rows) > limit else None
    return present(db_url, rows[:limit], zone, group_titles), older
