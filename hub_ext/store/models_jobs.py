"""Jobs and recurring jobs: the desired state the hub writes and the runner reconciles.

The schema is owned by migrations ``0005`` and ``0008``; times are stored in UTC. A job's
environment variables may hold credentials, so they are stored encrypted
(Fernet, the key of ``hub_ext.keys``), as TOTP secrets are.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow

PHASES = ("Pending", "Preparing", "Running", "Succeeded", "Failed", "Cancelled")
DONE_PHASES = ("Succeeded", "Failed", "Cancelled")
ACTIVE_PHASES = ("Pending", "Preparing", "Running")


class _Template:
    """What to run: shared by a job and a schedule's job template."""

    name: Mapped[str] = mapped_column(String(200))
    command: Mapped[str] = mapped_column(Text)
    image: Mapped[str] = mapped_column(String(255))
    instance_type: Mapped[str] = mapped_column(String(255))
    resource_group: Mapped[str] = mapped_column(String(255), default="")  # hub_ext.resource_groups ("": the first)
    env_encrypted: Mapped[str] = mapped_column(Text, default="")  # Fernet token of a JSON object
    timeout: Mapped[int] = mapped_column(Integer)  # seconds
    # the datasets it picks, a JSON list: ["imagenet", "labels@v3"] (migration 0008)
    datasets: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")

    @property
    def dataset_picks(self) -> list[str]:
        return list(json.loads(self.datasets or "[]"))


class Job(_Template, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_group_phase", "group", "phase"),
        Index("ix_jobs_phase", "phase"),
        Index("ix_jobs_username", "username"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group: Mapped[str] = mapped_column(String(255))
    username: Mapped[str] = mapped_column(String(255))
    # the instance type's limits at submission: what the job reserves in the ledger
    cpu: Mapped[float] = mapped_column(Float, default=0.0)
    memory: Mapped[int] = mapped_column(BigInteger, default=0)
    gpu: Mapped[int] = mapped_column(Integer, default=0)
    phase: Mapped[str] = mapped_column(String(16), default="Pending")
    reason: Mapped[str] = mapped_column(String(32), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    delete_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    executor: Mapped[str] = mapped_column(String(32), default="")
    handle: Mapped[str] = mapped_column(String(512), default="")
    log_read: Mapped[int] = mapped_column(BigInteger, default=0)  # executor log offset copied so far
    log_size: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes the job wrote (dropped ones too)
    artifacts_note: Mapped[str] = mapped_column(Text, default="")  # what was not kept, and why
    schedule_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rerun_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    admitted: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def done(self) -> bool:
        return self.phase in DONE_PHASES


class JobLogChunk(Base):
    """A piece of a job's output, persisted by the runner; ``offset`` counts every byte the job wrote."""

    __tablename__ = "job_log_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    offset: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class JobArtifact(Base):
    """A file the job wrote under ``./artifacts``, kept with the job."""

    __tablename__ = "job_artifacts"
    __table_args__ = (UniqueConstraint("job_id", "path", name="uq_job_artifact_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class JobSchedule(_Template, Base):
    """A recurring job: a job template plus a recurrence in a time zone."""

    __tablename__ = "job_schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group: Mapped[str] = mapped_column(String(255), index=True)
    username: Mapped[str] = mapped_column(String(255))
    recurrence: Mapped[str] = mapped_column(String(120))
    time_zone: Mapped[str] = mapped_column(String(64))
    overlap: Mapped[str] = mapped_column(String(8), default="skip")
    # the latest scheduled time handled (started, skipped or missed); None: none yet
    last_scheduled: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScheduleRun(Base):
    """What became of one scheduled time: at most one row, and so one job, per (schedule, time)."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "scheduled", name="uq_schedule_run"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("job_schedules.id", ondelete="CASCADE"), index=True)
    scheduled: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16))  # started | skipped | missed
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
