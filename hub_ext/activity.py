"""The activity record: an append-only log of user-visible events.

The spawner records notebook events, the service records job and deployment
events, the portal records announcements. The record feeds the home page's
Recent panel (newest events of one group) and the Logs / Errors page (newest
events of one user). There is deliberately no update or delete: what happened
stays as it was recorded.

Times are stored in UTC; pages show them in the user's time zone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from sqlalchemy import select

from .store import session_scope
from .store.models import Reservation, utcnow
from .store.models_portal import Activity

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

    def as_json(self) -> dict:
        data = asdict(self)
        data["created"] = self.created.isoformat()
        return data


def _utc(dt: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _row(a: Activity) -> ActivityRow:
    return ActivityRow(a.id, _utc(a.created), a.username, a.group, a.kind, a.action, a.status,
                       a.message, a.workload_id, a.link)


def record(db_url, *, username: str, group: str | None, kind: str, action: str, message: str,
           status: str = "info", workload_id: str | None = None, link: str | None = None) -> None:
    """Append one event. ``status`` is "ok", "info" or "error" (errors feed Logs / Errors)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    with session_scope(db_url) as s:
        s.add(Activity(created=utcnow(), username=username, group=group, kind=kind, action=action,
                       status=status, message=message, workload_id=workload_id, link=link))


def recent(db_url, *, username: str | None = None, group: str | None = None, limit: int = 20,
           errors_only: bool = False, before_id: int | None = None) -> list[ActivityRow]:
    """Newest first; filtered by user and/or group; ``before_id`` pages back in time."""
    q = select(Activity)
    if username is not None:
        q = q.where(Activity.username == username)
    if group is not None:
        q = q.where(Activity.group == group)
    if errors_only:
        q = q.where(Activity.status == "error")
    if before_id is not None:
        q = q.where(Activity.id < before_id)
    q = q.order_by(Activity.id.desc()).limit(max(1, min(int(limit), 500)))
    with session_scope(db_url) as s:
        return [_row(a) for a in s.scalars(q)]


def running_workloads(db_url, rows: list[ActivityRow]) -> set[tuple[str, str]]:
    """(kind, workload_id) of the rows' workloads that hold a reservation right now.

    A workload holds a reservation in the ledger exactly while it runs, so this is
    the live status the Recent panel shows next to each event.
    """
    ids = {r.workload_id for r in rows if r.workload_id}
    if not ids:
        return set()
    with session_scope(db_url) as s:
        held = s.execute(
            select(Reservation.kind, Reservation.workload_id).where(Reservation.workload_id.in_(ids))
        )
        return {(kind, wid) for kind, wid in held}
