"""Notebooks' lifecycle (issue 25): what the runner's idle culler saw of each running server, and its
passes. The schema is owned by migration ``0015``; times are stored in UTC.

The culler writes a server's row on every pass (its last activity, recent CPU/GPU use, since when it is
idle, when it will be stopped and why); the hub reads it for the Notebooks page, the home's running card
and the warning banner, and writes ``extensions``/``kept_at`` when the owner says "Keep running".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow

CULL_REASONS = ("idle", "max_age")


class NotebookIdle(Base):
    __tablename__ = "notebook_idle"

    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    server_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    group: Mapped[str] = mapped_column(String(255), default="")
    instance_type: Mapped[str] = mapped_column(String(255), default="")
    started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # the server's start (a new one resets)
    last_activity: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # the hub's last_activity
    busy_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # last pass its use was above the bar
    cpu_cores: Mapped[float | None] = mapped_column(Float, nullable=True)  # cores used over the last window
    gpu_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    measured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    idle_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cull_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # None: never
    cull_reason: Mapped[str] = mapped_column(String(16), default="")  # one of CULL_REASONS, "" none
    extensions: Mapped[int] = mapped_column(Integer, default=0)  # "Keep running" presses since it started
    kept_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # set by the culler just before it stops the server: what the stop's activity says ("Stopped after …")
    stop_message: Mapped[str] = mapped_column(Text, default="")
    updated: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, default=utcnow)


class LifecyclePass(Base):
    __tablename__ = "lifecycle_passes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    servers: Mapped[int] = mapped_column(Integer, default=0)
    warned: Mapped[int] = mapped_column(Integer, default=0)
    stopped: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
