"""Image builds of group images: the desired state the hub writes and the runner's builder
reconciles (issue 13). The schema is owned by migration ``0009``; times are stored in UTC.

A build turns a base image plus package specs (by manager, validated before they are
stored) into a new version of a group image. Builds of a group image are numbered
1, 2, 3...; the newest Succeeded one is the version in use, so a failed or cancelled
build leaves the previous version in use. ``ref`` is content-addressed from base and
packages: the container image reference on Kubernetes, the environment's directory
name in the embedded mode.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, \
    UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow

BUILD_PHASES = ("Pending", "Building", "Succeeded", "Failed", "Cancelled")
BUILD_DONE = ("Succeeded", "Failed", "Cancelled")


class ImageBuild(Base):
    __tablename__ = "image_builds"
    __table_args__ = (
        UniqueConstraint("group", "image", "number", name="uq_image_build_number"),
        Index("ix_image_builds_phase", "phase"),
        Index("ix_image_builds_group_image", "group", "image"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group: Mapped[str] = mapped_column(String(255))
    image: Mapped[str] = mapped_column(String(63))  # the group image's name
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, 3... per group image
    username: Mapped[str] = mapped_column(String(255))  # who asked for it
    base: Mapped[str] = mapped_column(String(63))  # the base image's name (catalog or the group's)
    packages: Mapped[str] = mapped_column(Text, default="{}")  # JSON {"pip": [...], "apt": [...], "conda": [...]}
    ref: Mapped[str] = mapped_column(String(512), default="")  # content-addressed result (see module doc)
    # the image this build makes, as JSON (hub_ext.policy.Image: local packages = the base's + pip, or the
    # container image = ``ref``), fixed when the build is asked for, so a later change of the base does not
    # change what a succeeded build means
    result: Mapped[str] = mapped_column(Text, default="{}")
    source: Mapped[str] = mapped_column(String(512), default="")  # Kubernetes: the base's container image
    phase: Mapped[str] = mapped_column(String(16), default="Pending")
    message: Mapped[str] = mapped_column(Text, default="")  # why it failed (with the log tail), or progress
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    handle: Mapped[str] = mapped_column(String(512), default="")  # executor's handle of a running build
    log_size: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def package_specs(self) -> dict[str, list[str]]:
        return {"pip": [], "apt": [], "conda": [], **json.loads(self.packages or "{}")}


class ImageBuildLogChunk(Base):
    """A piece of a build's output (offsets as for jobs: ``hub_ext.jobs.logs``)."""

    __tablename__ = "image_build_log_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("image_builds.id", ondelete="CASCADE"), index=True)
    offset: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
