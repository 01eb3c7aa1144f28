"""The ledger: the one place where quota is counted.

Every running workload (notebook server, job, deployment, app) holds one
*reservation*: the instance type's limits it was admitted with, and the local
GPU devices it was given. Quota use is the sum of the reservations, computed
with SQL aggregates read from a covering index, so admission stays cheap with
thousands of active workloads: under the lock it is one read (the workload's
existing reservation, the group's and the member's sums, the devices held)
and one insert.

Admission must be atomic across processes, because the hub and the managed
service admit into the same database:

- on SQLite the admitting transaction starts with ``BEGIN IMMEDIATE``, which
  takes the database's write lock before anything is read;
- on PostgreSQL it takes a transaction-scoped advisory lock on the group (and
  a global one first when it hands out GPU devices, which are machine-wide),
  so admissions into different groups do not wait for each other.

Between "sum what is used" and "insert the new reservation" nobody else can
admit into the same group, so a quota is never exceeded by racing.

This module has no tornado in it; callers run it in a thread if they must.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Callable, Iterator

from sqlalchemy import bindparam, case, delete, func, insert, literal_column, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..policy import Quota
from ..store import get_engine
from ..store.engine import READ_ONLY
from ..store.models import Reservation, utcnow
from .amounts import QuotaExceeded, Request, Snapshot, Usage, over_lines
from .holds import StorageHolds

# Advisory lock keys (two-int form): a namespace of our own, so that other users
# of advisory locks in the same database cannot collide with the ledger's.
_PG_GROUP_NS = 0x4846  # "HF"
_PG_DEVICE_NS = 0x4847

_T = Reservation.__table__


def _used_columns(where=None):
    """cpu/memory/gpu/sessions sums, optionally only over rows matching ``where``."""
    if where is None:
        return (
            func.coalesce(func.sum(_T.c.cpu), 0.0),
            func.coalesce(func.sum(_T.c.memory), 0),
            func.coalesce(func.sum(_T.c.gpu), 0),
            func.count(),
        )
    return (
        func.coalesce(func.sum(case((where, _T.c.cpu), else_=0.0)), 0.0),
        func.coalesce(func.sum(case((where, _T.c.memory), else_=0)), 0),
        func.coalesce(func.sum(case((where, _T.c.gpu), else_=0)), 0),
        func.coalesce(func.sum(case((where, 1), else_=0)), 0),
    )


# Built once: admission runs these on every reserve(), so skip re-building them.
_HELD = _T.alias("held")  # the subqueries' own name for the table (not correlated with the outer one)
_EXISTING = (select(_HELD.c.id)
             .where(_HELD.c.kind == bindparam("kind"), _HELD.c.workload_id == bindparam("workload_id"))
             .scalar_subquery())
_FIND = select(Reservation).where(
    Reservation.kind == bindparam("kind"), Reservation.workload_id == bindparam("workload_id")
)
# Only GPU holders hold devices: a partial index (migration 0019) holds just their rows, so this is
# no scan of the table; the literals let the planners match the index's own WHERE.
_HOLDS_DEVICES = (_HELD.c.gpu > literal_column("0"), _HELD.c.gpu_devices != literal_column("''"))


def _admission_query(dialect: str, devices: bool):
    """One statement for everything admission reads under the lock: whether the workload already holds a
    reservation, the group's and the member's sums (one covering index, migration 0019) and, when devices
    are handed out, every device held (comma-joined). Fewer round trips: each is a chance to wait."""
    columns = [_EXISTING.label("existing"), *_used_columns(), *_used_columns(_T.c.username == bindparam("username"))]
    if devices:
        join = func.string_agg if dialect == "postgresql" else func.group_concat
        columns.append(select(join(_HELD.c.gpu_devices, literal_column("','"))).where(*_HOLDS_DEVICES)
                       .scalar_subquery().label("held"))
    return select(*columns).where(_T.c.group == bindparam("group"))


_ADMISSION = {(d, devices): _admission_query(d, devices) for d in ("sqlite", "postgresql") for devices in (False, True)}
_INSERT = insert(_T).returning(_T.c.id)


def _as_used(row) -> dict[str, float]:
    # PostgreSQL returns sum(bigint) as Decimal; normalise to Python numbers.
    cpu, memory, gpu, sessions = row
    return {"cpu": float(cpu), "memory": int(memory), "gpu": int(gpu), "sessions": int(sessions)}


def _held_devices(joined: str | None) -> set[int]:
    return {int(d) for d in (joined or "").split(",") if d != ""}


@functools.lru_cache(maxsize=16)
def _factories(db_url: str, engine) -> tuple[sessionmaker, sessionmaker]:
    """Session factories per database: reads without a transaction, admissions serialised."""
    if engine.dialect.name == "sqlite":
        reader = engine.execution_options(sqlite_begin=READ_ONLY)
        writer = engine.execution_options(sqlite_begin="IMMEDIATE")
    else:
        reader = writer = engine
    return sessionmaker(reader, expire_on_commit=False), sessionmaker(writer, expire_on_commit=False)


_PER_USER = (
    select(_T.c.username, *_used_columns())
    .where(_T.c.group == bindparam("group"))
    .group_by(_T.c.username)
    .order_by(_T.c.username)
)


class Ledger(StorageHolds):
    """Reservations in the portal database at ``db_url`` (and uploads' storage holds: StorageHolds).

    ``gpu_inventory`` returns this machine's GPU device indices (embedded mode,
    e.g. from NVML); with None the ledger never hands out devices.
    """

    def __init__(self, db_url: str, gpu_inventory: Callable[[], list[int]] | None = None):
        self.db_url = db_url
        self.gpu_inventory = gpu_inventory
        engine = get_engine(db_url)
        self._dialect = engine.dialect.name
        if self._dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"the ledger supports SQLite and PostgreSQL, not {self._dialect}")
        self._read, self._write = _factories(db_url, engine)

    @property
    def _sqlite(self) -> bool:
        return self._dialect == "sqlite"

    @contextmanager
    def _locked(self, group: str | None = None, devices: bool = False) -> Iterator[Session]:
        """A write transaction holding the admission lock(s); commits on success."""
        with self._write() as session, session.begin():
            if not self._sqlite:  # SQLite: BEGIN IMMEDIATE already holds the write lock
                # Device lock first, group lock second: one order everywhere, no deadlock.
                if devices:
                    session.execute(text(f"SELECT pg_advisory_xact_lock({_PG_DEVICE_NS}, 0)"))
                if group is not None:
                    session.execute(
                        text(f"SELECT pg_advisory_xact_lock({_PG_GROUP_NS}, hashtext(:g))"),
                        {"g": group},
                    )
            yield session

    # -- admission ---------------------------------------------------------

    def reserve(
        self,
        *,
        kind: str,
        workload_id: str,
        username: str,
        group: str,
        request: Request,
        group_quota: Quota,
        user_quota: Quota,
        allocate_devices: bool = False,
        resource_group: str = "",
    ) -> Reservation:
        """Admit a workload, or raise QuotaExceeded naming every resource over.

        Idempotent: a workload that already holds a reservation gets it back
        unchanged (a re-admission after a hub restart reserves nothing twice).
        """
        devices = allocate_devices and request.gpu > 0 and self.gpu_inventory is not None
        inventory = list(self.gpu_inventory()) if devices else []
        values = {"kind": kind, "workload_id": workload_id, "username": username, "group": group,
                  "cpu": float(request.cpu), "memory": int(request.memory), "gpu": int(request.gpu),
                  "resource_group": resource_group}
        try:
            with self._locked(group, devices=devices) as session:
                row = session.execute(_ADMISSION[self._dialect, devices], values).one()
                if row.existing is not None:
                    return self._find(session, kind, workload_id)
                over = over_lines(_as_used(row[1:5]), request, group_quota, f"group {group}")
                over += over_lines(_as_used(row[5:9]), request, user_quota, f"user {username} in group {group}")
                granted: list[int] = []
                if devices:
                    held = _held_devices(row.held)
                    free = [d for d in sorted(dict.fromkeys(inventory)) if d not in held]
                    if len(free) < request.gpu:
                        over.append(
                            f"GPU devices: requested {request.gpu} > free {len(free)} on this machine"
                        )
                    granted = free[: request.gpu]
                if over:
                    raise QuotaExceeded(over)
                values.update(gpu_devices=",".join(str(d) for d in granted), created=utcnow())
                values["id"] = session.execute(_INSERT, values).scalar_one()
                return Reservation(**values)
        except IntegrityError:
            # The same workload admitted at the same moment under another group's lock.
            existing = self.get(kind, workload_id)
            if existing is None:
                raise
            return existing

    @staticmethod
    def _find(session: Session, kind: str, workload_id: str) -> Reservation | None:
        return session.scalars(_FIND, {"kind": kind, "workload_id": workload_id}).first()

    def release(self, kind: str, workload_id: str) -> bool:
        """Drop a workload's reservation; True if it held one (safe to call twice)."""
        with self._locked() as session:
            result = session.execute(
                delete(_T).where(_T.c.kind == kind, _T.c.workload_id == workload_id)
            )
            return result.rowcount > 0

    def reconcile(
        self, alive: Callable[[Reservation], bool], kind: str | None = None
    ) -> list[Reservation]:
        """Drop reservations whose workload no longer runs; return the dropped ones.

        ``alive`` is called outside any transaction (it may be slow, e.g. ask
        Kubernetes); rows are then deleted by id, so a workload re-admitted in
        the meantime under a new reservation is left alone.
        """
        dead = [r for r in self.reservations(kind=kind) if not alive(r)]
        if dead:
            with self._locked() as session:
                session.execute(delete(_T).where(_T.c.id.in_([r.id for r in dead])))
        return dead

    # -- reading -----------------------------------------------------------

    def get(self, kind: str, workload_id: str) -> Reservation | None:
        with self._read() as session:
            return self._find(session, kind, workload_id)

    def reservations(
        self, *, group: str | None = None, username: str | None = None, kind: str | None = None
    ) -> list[Reservation]:
        query = select(Reservation).order_by(Reservation.id)
        if group is not None:
            query = query.where(Reservation.group == group)
        if username is not None:
            query = query.where(Reservation.username == username)
        if kind is not None:
            query = query.where(Reservation.kind == kind)
        with self._read() as session:
            return list(session.scalars(query))

    def usage(
        self, group: str, username: str | None, group_quota: Quota, user_quota: Quota
    ) -> Usage:
        """Used, limit and remaining per resource, for the group and (optionally) one member."""
        return self.snapshot(group).usage(username, group_quota, user_quota)

    def shortfalls(
        self, *, group: str, username: str, request: Request, group_quota: Quota, user_quota: Quota
    ) -> list[str]:
        """What ``reserve()`` would refuse right now, without reserving (for forms and buttons).

        The same lines as a refusal; empty when the request fits. Advisory
        only: ``reserve()`` decides, atomically, at launch.
        """
        return self.snapshot(group).shortfalls(username, request, group_quota, user_quota)

    def snapshot(self, group: str) -> "Snapshot":
        """One read of a group's use, per member, to answer several questions (a page's panels)."""
        return Snapshot(group, self.per_user(group))

    def per_user(self, group: str, placed: tuple[str, ...] | None = None) -> dict[str, dict[str, float]]:
        """Each member's use in ``group``: username -> {cpu, memory, gpu, sessions}; with ``placed``, only
        what reservations recorded in those resource groups hold."""
        query, params = _PER_USER, {"group": group}
        if placed is not None:
            query = query.where(_T.c.resource_group.in_(bindparam("placed", expanding=True)))
            params["placed"] = list(placed)
        with self._read() as session:
            return {row[0]: _as_used(row[1:]) for row in session.execute(query, params)}

    def placed_snapshot(self, group: str, resource_group: str, first: bool) -> "Snapshot":
        """A group's use placed in one resource group (``first``: it is the default one, which also holds
        what was reserved before resource groups were recorded, as "")."""
        return Snapshot(group, self.per_user(group, (resource_group, "") if first else (resource_group,)))
