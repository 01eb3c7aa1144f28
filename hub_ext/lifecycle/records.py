"""The culler's record of each running notebook server (``notebook_idle``) and of its passes
(``lifecycle_passes``): written by the runner's culler, read by the hub's pages, "Keep running" by the hub."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, select

from ..store import read_scope, session_scope
from ..store.engine import read_connection
from ..store.models_lifecycle import LifecyclePass, NotebookIdle
from ..times import utc, utcnow
from .decide import Decision, decide, keep_refusal
from .rules import IdleRules

PASSES_KEPT = 50


@dataclass(frozen=True)
class Seen:
    """What one pass saw of a running server."""

    username: str
    server_name: str
    group: str
    instance_type: str
    started: datetime | None
    last_activity: datetime | None
    cpu_cores: float | None = None  # cores used since the previous look; None: not measured
    gpu_percent: float | None = None
    busy: bool = False  # its use was above the thresholds since the previous look


class KeepRefused(Exception):
    """Keep running cannot extend this server (the message says why)."""


def _utc(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def observe(db_url: str, seen: list[Seen], rules_of, now: datetime | None = None) -> dict[tuple[str, str], Decision]:
    """Write what a pass saw; forget servers no longer running (or started anew). ``rules_of(seen)`` gives
    each server's rules. Returns each server's decision, by (user, server)."""
    now = now or utcnow()
    decisions = {}
    with session_scope(db_url) as db:
        rows = {(r.username, r.server_name): r for r in db.scalars(select(NotebookIdle))}
        for s in seen:
            key = (s.username, s.server_name)
            row = rows.pop(key, None)
            if row is not None and _utc(row.started) != _utc(s.started):  # a new start: nothing carries over
                db.delete(row)
                db.flush()
                row = None
            if row is None:
                row = NotebookIdle(username=s.username, server_name=s.server_name, extensions=0, stop_message="")
                db.add(row)
            row.group, row.instance_type, row.started = s.group, s.instance_type, s.started
            row.last_activity = s.last_activity
            row.cpu_cores, row.gpu_percent = s.cpu_cores, s.gpu_percent
            row.measured_at = now if (s.cpu_cores is not None or s.gpu_percent is not None) else row.measured_at
            if s.busy:
                row.busy_at = now
            decision = decide(rules_of(s), started=_utc(row.started), last_activity=_utc(row.last_activity),
                              busy_at=_utc(row.busy_at), kept_at=_utc(row.kept_at))
            row.idle_since, row.cull_at, row.cull_reason = decision.idle_since, decision.cull_at, decision.reason
            row.updated = now
            decisions[key] = decision
        for row in rows.values():  # stopped meanwhile
            if not row.stop_message:
                db.delete(row)
    return decisions


def decision_of(row: NotebookIdle, rules: IdleRules) -> Decision:
    return decide(rules, started=_utc(row.started), last_activity=_utc(row.last_activity),
                  busy_at=_utc(row.busy_at), kept_at=_utc(row.kept_at))


_ALL = select(NotebookIdle.__table__)
_OF_USER = _ALL.where(NotebookIdle.__table__.c.username == bindparam("username"))  # built once: pages ask


def rows_of(db_url: str, username: str | None = None) -> dict[tuple[str, str], NotebookIdle]:
    """What the culler recorded (of ``username``'s servers, or of everyone's), by (user, server): plain
    rows with the columns of :class:`NotebookIdle` as attributes."""
    with read_connection(db_url) as conn:
        rows = list(conn.execute(_ALL) if username is None else conn.execute(_OF_USER, {"username": username}))
    return {(r.username, r.server_name): r for r in rows}


def keep(db_url: str, username: str, server_name: str, rules: IdleRules, now: datetime | None = None) -> NotebookIdle:
    """Keep running: the server's idle clock starts again now (one extension); raise KeepRefused saying
    why when it cannot (no idle timeout, its maximum age, too many extensions, not seen running)."""
    now = now or utcnow()
    with session_scope(db_url) as db:
        row = db.get(NotebookIdle, (username, server_name))
        if row is None:
            raise KeepRefused("This notebook is not running (or the culler has not looked at it yet).")
        refusal = keep_refusal(rules, decision_of(row, rules), row.extensions)
        if refusal:
            raise KeepRefused(refusal)
        row.kept_at, row.extensions = now, row.extensions + 1
        decision = decision_of(row, rules)
        row.idle_since, row.cull_at, row.cull_reason = decision.idle_since, decision.cull_at, decision.reason
        row.updated = now
        db.flush()
        db.expunge(row)
    return row


def stopping(db_url: str, username: str, server_name: str, message: str) -> None:
    """The culler is about to stop this server: its stop's activity will say ``message``."""
    with session_scope(db_url) as db:
        row = db.get(NotebookIdle, (username, server_name))
        if row is not None:
            row.stop_message = message


def take_stop_message(db_url: str, username: str, server_name: str) -> str:
    """The culler's words for a server being stopped ("" when its owner stopped it); forgets the server."""
    with session_scope(db_url) as db:
        row = db.get(NotebookIdle, (username, server_name))
        if row is None:
            return ""
        message = row.stop_message
        db.delete(row)
    return message


def record_pass(db_url: str, *, at: datetime, seconds: float, servers: int, warned: int, stopped: int,
                error: str = "") -> None:
    with session_scope(db_url) as db:
        db.add(LifecyclePass(at=at, seconds=seconds, servers=servers, warned=warned, stopped=stopped,
                             error=error[:2000]))
        db.flush()
        newest = db.scalars(select(LifecyclePass.id).order_by(LifecyclePass.id.desc()).offset(PASSES_KEPT)
                            .limit(1)).first()
        if newest is not None:
            db.execute(delete(LifecyclePass).where(LifecyclePass.id <= newest))


def last_passes(db_url: str, limit: int = 10) -> list[LifecyclePass]:
    with read_scope(db_url) as db:
        rows = list(db.scalars(select(LifecyclePass).order_by(LifecyclePass.id.desc()).limit(limit)))
        for row in rows:
            db.expunge(row)
    return rows
