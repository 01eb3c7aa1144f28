"""The activity record: an append-only log of user-visible events.

The spawner records notebook events, the service records job and deployment
events, the portal records announcements. The record feeds the home page's
Recent panel (newest events of one group) and the Logs / Errors page (newest
events of one user). There is deliberately no update or delete: what happened
stays as it was recorded.

Times are stored in UTC; pages show them in the user's time zone. Messages name groups by their ids, as
they were when recorded (and as the ledger words its refusals: "(group alpha)"); what people read names
them by their display names as they are now: :func:`name_groups`, applied where a message is shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, func, insert, or_, select

from .store import get_engine
from .store.engine import read_connection
from .store.models import Reservation, utcnow
from .store.models_portal import Activity
from .times import utc

# Plain SQLAlchemy Core: the home page reads this on every view, so no ORM session.
_table = Activity.__table__
_reservations = Reservation.__table__

STATUSES = ("ok", "info", "error")


@dataclass(frozen=True)
class ActivityRow:
    id: int
    created: datetime  # UTC, timezone-aware
    username: str
    group: str | None
    kind: str
    action: str
    status: str
    message: str
    workload_id: str | None
    link: str | None
    running: bool = False  # the workload holds a reservation in the ledger right now

    def as_json(self) -> dict:
        return {"id": self.id, "created": self.created.isoformat(), "username": self.username,
                "group": self.group, "kind": self.kind, "action": self.action, "status": self.status,
                "message": self.message, "workload_id": self.workload_id, "link": self.link}




# a quoted name ('in alpha', "of alpha") is a name someone chose, never a mention of a group: left as it is
_QUOTED = re.compile(r"""((?<!\w)'[^']*'(?!\w)|(?<!\w)"[^"]*"(?!\w))""")
# how messages mention a group: "(group alpha)", "user bob in group alpha", "Group alpha granted …",
# "submitted in alpha", "App 'x' of alpha", "uninstalled from alpha"
_BEFORE = r"(?<![\w-])((?:[Gg]roup|in|of|from) )"


def name_groups(text: str, titles: Mapping[str, str]) -> str:
    """``text`` with each group it mentions by id named by its display name, where it has one.

    ``titles`` maps group ids to display names. Only mentions are renamed (after "group", "in", "of",
    "from"), whole ids only (``alpha`` never in ``alpha-2``), never inside a quoted name.
    """
    renamed = {name: title for name, title in titles.items() if name and title and title != name}
    if not text or not renamed:
        return text
    ids = "|".join(re.escape(name) for name in sorted(renamed, key=len, reverse=True))
    mention = re.compile(_BEFORE + f"({ids})" + r"(?![\w-])")
    parts = _QUOTED.split(text)  # quoted names at the odd places
    return "".join(part if i % 2 else mention.sub(lambda m: m.group(1) + renamed[m.group(2)], part)
                   for i, part in enumerate(parts))


def _row(a) -> ActivityRow:
    return ActivityRow(a.id, utc(a.created), a.username, a.group, a.kind, a.action, a.status,
                       a.message, a.workload_id, a.link, bool(getattr(a, "running", False)))


def record(db_url, *, username: str, group: str | None, kind: str, action: str, message: str,
           status: str = "info", workload_id: str | None = None, link: str | None = None) -> None:
    """Append one event. ``status`` is "ok", "info" or "error" (errors feed Logs / Errors)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    with get_engine(db_url).begin() as conn:
        conn.execute(insert(_table).values(
            created=utcnow(), username=username, group=group, kind=kind, action=action, status=status,
            message=message, workload_id=workload_id, link=link))


def recent(db_url, *, username: str | None = None, group: str | None = None, limit: int = 20,
           errors_only: bool = False, before_id: int | None = None,
           errors_of_only: str | None = None) -> list[ActivityRow]:
    """Newest first; filtered by user and/or group; ``before_id`` pages back in time.

    ``errors_of_only``: of all errors, keep only this user's (a group admin sees
    what the members did, never their errors).
    """
    q = _recent_query(username is not None, group is not None, bool(errors_only), errors_of_only is not None,
                      before_id is not None)
    params = {"username": username, "group": group, "errors_of_only": errors_of_only, "before_id": before_id,
              "limit": max(1, min(int(limit), 500))}
    with read_connection(db_url) as conn:
        return [_row(a) for a in conn.execute(q, {k: v for k, v in params.items() if v is not None})]


_recent_queries: dict[tuple, object] = {}


def _recent_query(by_user: bool, by_group: bool, errors_only: bool, errors_of_only: bool, before: bool):
    """:func:`recent`'s statement for this set of filters, built once (the home page asks on every view)."""
    key = (by_user, by_group, errors_only, errors_of_only, before)
    q = _recent_queries.get(key)
    if q is not None:
        return q
    c = _table.c
    # a workload holds a reservation exactly while it runs: the live status, in the same query. Only the
    # events of the run that holds it now (recorded once it was reserved) and no error is "running": a
    # notebook's "stopped" of an earlier run, or a refused second launch, is not.
    r = _reservations.c
    running = and_(
        c.status != "error",
        select(r.id).where(r.kind == c.kind, r.workload_id == c.workload_id, r.created <= c.created).exists(),
    ).label("running")
    q = select(_table, running)
    if by_user:
        q = q.where(c.username == bindparam("username"))
    if by_group:
        q = q.where(c.group == bindparam("group"))
    if errors_only:
        q = q.where(c.status == "error")
    if errors_of_only:
        q = q.where(or_(c.username == bindparam("errors_of_only"), c.status != "error"))
    if before:
        q = q.where(c.id < bindparam("before_id"))
    q = _recent_queries[key] = q.order_by(c.id.desc()).limit(bindparam("limit"))
    return q


def latest_by_workload(db_url, *, username: str, kind: str) -> dict[str, ActivityRow]:
    """The newest event of each of ``username``'s workloads of ``kind`` (how each last ended)."""
    with read_connection(db_url) as conn:
        return {a.workload_id: _row(a) for a in conn.execute(_LATEST, {"username": username, "kind": kind})}


_LATEST = select(_table).where(_table.c.id.in_(  # built once: the Notebooks page asks on every view
    select(func.max(_table.c.id)).where(_table.c.username == bindparam("username"), _table.c.kind == bindparam("kind"))
    .group_by(_table.c.workload_id).scalar_subquery()))
