"""The ledger's storage part: bytes uploads in progress hold against their group's storage quota.

Mixed into :class:`hub_ext.ledger.Ledger`, so the admission lock is the
ledger's own (``BEGIN IMMEDIATE`` on SQLite, the group's advisory lock on
PostgreSQL): two uploads racing for a group's last gigabyte cannot both get it.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..policy import format_memory
from ..store.models_storage import StorageReservation
from .amounts import QuotaExceeded

_S = StorageReservation.__table__


class StorageHolds:
    """``reserve_storage`` / ``release_storage`` / ``storage_held`` (needs the Ledger's ``_locked``, ``_read``)."""

    def reserve_storage(self, group: str, upload_id: str, username: str, size: int, used: int,
                        limit: int | None) -> StorageReservation:
        """Hold ``size`` bytes of ``group``'s storage for an upload before any byte is written.

        ``used`` is the group's measured use; the bytes other uploads in
        progress hold count too (under the group's admission lock, so two
        uploads racing for the last gigabyte cannot both get it). Refused with
        ``Storage: used 49.5 GiB + upload 1 GiB > limit 50 GiB (group research)``.
        Idempotent per ``upload_id``; ``limit`` None is unlimited.
        """
        if size < 0 or used < 0:
            raise ValueError("size and used must not be negative")
        try:
            with self._locked(group) as session:
                existing = session.get(StorageReservation, upload_id)
                if existing is not None:
                    return existing
                held = self._held(session, group)
                if limit is not None and used + held + size > limit:
                    raise QuotaExceeded(
                        f"Storage: used {format_memory(used + held)} + upload {format_memory(size)}"
                        f" > limit {format_memory(limit)} (group {group})")
                row = StorageReservation(id=upload_id, group=group, username=username, size=int(size))
                session.add(row)
                session.flush()
                return row
        except IntegrityError:
            with self._read() as session:
                existing = session.get(StorageReservation, upload_id)
            if existing is None:
                raise
            return existing

    def release_storage(self, upload_id: str) -> bool:
        """Drop an upload's hold; True if it held one (safe to call twice)."""
        with self._locked() as session:
            return session.execute(delete(_S).where(_S.c.id == upload_id)).rowcount > 0

    @staticmethod
    def _held(session: Session, group: str) -> int:
        total = session.execute(select(func.coalesce(func.sum(_S.c.size), 0)).where(_S.c.group == group))
        return int(total.scalar_one())

    def storage_held(self, group: str) -> int:
        """Bytes ``group``'s uploads in progress hold."""
        with self._read() as session:
            return self._held(session, group)

    def storage_reservations(self, group: str | None = None) -> list[StorageReservation]:
        query = select(StorageReservation).order_by(StorageReservation.created)
        if group is not None:
            query = query.where(StorageReservation.group == group)
        with self._read() as session:
            return list(session.scalars(query))
