"""Portal database models (SQLAlchemy 2).

The schema is owned by the alembic migrations in ``migrations/versions``;
these classes describe it for queries. Times are stored in UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..times import utcnow  # noqa: F401 - the models' default, imported from here by many


class Base(DeclarativeBase):
    pass


class Account(Base):
    """A local login: the argon2 hash of the password, never the password."""

    __tablename__ = "accounts"

    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    password_changed: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GroupContext(Base):
    """The working group in focus for a user, shared by hub and service."""

    __tablename__ = "group_context"

    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    group: Mapped[str] = mapped_column(String(255))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Reservation(Base):
    """One active workload's hold on a group's quota (see ``hub_ext.ledger``)."""

    __tablename__ = "reservations"
    __table_args__ = (
        UniqueConstraint("kind", "workload_id", name="uq_reservation_workload"),
        # admission's sums read only this index; the devices held, only GPU holders' rows (migration 0019)
        Index("ix_reservations_group_use", "group", "username", "cpu", "memory", "gpu"),
        Index("ix_reservations_devices", "gpu_devices", sqlite_where=text("gpu_devices != ''"),
              postgresql_where=text("gpu_devices != ''")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    workload_id: Mapped[str] = mapped_column(String(255))
    username: Mapped[str] = mapped_column(String(255), index=True)
    group: Mapped[str] = mapped_column(String(255))
    cpu: Mapped[float] = mapped_column(Float, default=0.0)
    memory: Mapped[int] = mapped_column(BigInteger, default=0)
    gpu: Mapped[int] = mapped_column(Integer, default=0)
    gpu_devices: Mapped[str] = mapped_column(String(255), default="")
    resource_group: Mapped[str] = mapped_column(String(255), default="")  # hub_ext.resource_groups ("": the first)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def device_ids(self) -> list[int]:
        return [int(d) for d in self.gpu_devices.split(",") if d != ""]
