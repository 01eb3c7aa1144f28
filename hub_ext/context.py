"""Group context: the working group in focus for a user.

It is stored per user in the portal database, so the hub and the service agree
on it and it survives logout. The stored choice only counts while the user is
still a member; otherwise the first group (by name) is in focus.
"""

from __future__ import annotations

import time

from pydantic import Field
from sqlalchemy import bindparam, select

from .bodies import Strict

from .store import session_scope
from .store.engine import read_connection
from .store.models import GroupContext, utcnow


class NotAMember(PermissionError):
    pass


class ContextChange(Strict):
    """``PUT /api/portal/me/context``: the group to put in focus."""

    group: str = Field(min_length=1, max_length=255, description="The name of one of your groups")


_STORED = select(GroupContext.__table__.c.group).where(GroupContext.__table__.c.username == bindparam("u"))


# Read on every page, changed rarely: kept in memory for a few seconds. A switch
# made in this process is seen at once; one made by another process (the
# service) within CACHE_SECONDS.
CACHE_SECONDS = 10.0
_cache: dict[tuple[str, str], tuple[float, str | None]] = {}


def stored_group(db_url: str, username: str) -> str | None:
    key = (db_url, username)
    hit = _cache.get(key)
    if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    with read_connection(db_url) as conn:  # a plain Core statement, no ORM session
        group = conn.execute(_STORED, {"u": username}).scalar()
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[key] = (time.monotonic(), group)
    return group


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
    _cache[(db_url, username)] = (time.monotonic(), group)
    return group


def keep_focus(db_url: str, username: str, group_names: list[str]) -> str | None:
    """The group in focus (:func:`current_group`), stored when it is only the fallback (nothing stored yet,
    or a group the user has left), so that a group the user joins later, by any path (the portal, or
    JupyterHub's own API and admin page), never takes its place. Called for every page (the layout's
    data) and before the portal adds a user to a group. A user in no group keeps nothing: the first
    group they join becomes their working group."""
    current = current_group(db_url, username, group_names)
    if current is not None and stored_group(db_url, username) != current:
        set_group(db_url, username, current, group_names)
    return current
