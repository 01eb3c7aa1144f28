"""Group context: the working group in focus for a user.

It is stored per user in the portal database, so the hub and the service agree
on it and it survives logout. The stored choice only counts while the user is
still a member; otherwise the first group (by name) is in focus.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from .store import session_scope
from .store.engine import read_connection
from .store.models import GroupContext, utcnow


class NotAMember(PermissionError):
    pass


_STORED = select(GroupContext.__table__.c.group).where(GroupContext.__table__.c.username == bindparam("u"))


def stored_group(db_url: str, username: str) -> str | None:
    # read on every page: a plain Core statement, no ORM session
    with read_connection(db_url) as conn:
        return conn.execute(_STORED, {"u": username}).scalar()


def current_group(db_url: str, username: str, group_names: list[str]) -> str | None:
    """The group in focus, or None for a user in no group."""
    if not group_names:
        return None
    stored = stored_group(db_url, username)
    if stored in group_names:
        return stored
    return sorted(group_names)[0]


def set_group(db_url: str, username: str, group: str, group_names: list[str]) -> str:
    """Put ``group`` in focus; refuse (and change nothing) when not a member."""
    if group not in group_names:
        raise NotAMember(f"You are not a member of group {group!r}")
    with session_scope(db_url) as s:
        row = s.get(GroupContext, username)
        if row is None:
            s.add(GroupContext(username=username, group=group, updated=utcnow()))
        else:
            row.group = group
            row.updated = utcnow()
    return group
