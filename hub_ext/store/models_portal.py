"""Portal models for announcements, the license, activities and preferences.

The schema is owned by migration ``0003``; times are stored in UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow


class Activity(Base):
    """One user-visible event. Append-only: rows are never updated or deleted."""

    __tablename__ = "activities"
    __table_args__ = (
        # the home panel: newest events of one group
        Index("ix_activities_group_id", "group", "id"),
        # Logs / Errors: newest events of one user
        Index("ix_activities_username_id", "username", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    username: Mapped[str] = mapped_column(String(255))
    group: Mapped[str | None] = mapped_column(String(255), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="info")
    message: Mapped[str] = mapped_column(Text)
    workload_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    link: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class Announcement(Base):
    """What admins tell users; ``version`` goes up on every edit."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown, sanitised when rendered
    severity: Mapped[str] = mapped_column(String(16), default="info")
    audience_groups: Mapped[str] = mapped_column(Text, default="")  # "" = everyone, else "a,b,c"
    starts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    author: Mapped[str] = mapped_column(String(255), default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def groups(self) -> list[str]:
        return [g for g in self.audience_groups.split(",") if g]


class AnnouncementDismissal(Base):
    """A user hid an announcement's banner, as of one version of it."""

    __tablename__ = "announcement_dismissals"

    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    announcement_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    dismissed: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InstalledLicense(Base):
    """A license token installed from the License page; the newest one counts."""

    __tablename__ = "licenses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(Text)
    installed_by: Mapped[str] = mapped_column(String(255))
    installed: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Preference(Base):
    """A user's portal preferences."""

    __tablename__ = "preferences"

    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    default_group: Mapped[str | None] = mapped_column(String(255), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
