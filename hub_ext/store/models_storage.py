"""Group storage, share links, datasets and folder invitations (issue 12).

The schema is owned by migration ``0007``; times are stored in UTC. Share-link
tokens are stored as sha256 digests (they carry 128 random bits), their
passwords as argon2 hashes; env dataset values are stored encrypted (Fernet).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow

DATASET_KINDS = ("files", "git", "env")
GRANT_MODES = ("ro", "rw")
FOLDER_PERMISSIONS = ("ro", "rw", "rwd")
INVITATION_STATES = ("pending", "accepted", "declined", "revoked", "left")


class StorageReservation(Base):
    """Bytes an upload in progress holds against its group's storage quota (the ledger's, like a reservation)."""

    __tablename__ = "storage_reservations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the upload's id
    group: Mapped[str] = mapped_column(String(255), index=True)
    username: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Upload(Base):
    """A resumable (tus) upload into a group's storage: where it goes, how long it is, how much has arrived."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # 128 random bits, hex
    group: Mapped[str] = mapped_column(String(255), index=True)
    username: Mapped[str] = mapped_column(String(255))
    target: Mapped[str] = mapped_column(Text)  # the file's path relative to the destination tree
    area: Mapped[str] = mapped_column(String(255), default="")  # "" group storage, else "dataset:<name>"
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Share(Base):
    """A share link to a file or folder of a group's storage: read-only, optional expiry and password."""

    __tablename__ = "shares"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group: Mapped[str] = mapped_column(String(255), index=True)
    username: Mapped[str] = mapped_column(String(255))  # who made it
    path: Mapped[str] = mapped_column(Text)  # relative to the group's tree
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), default="")  # argon2; "" = no password
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dataset(Base):
    """A named collection a group owns: files (a folder), git (a synced clone) or env (key/values)."""

    __tablename__ = "datasets"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)  # a DNS label: /datasets/<name>
    group: Mapped[str] = mapped_column(String(255), index=True)  # the owner group
    username: Mapped[str] = mapped_column(String(255))  # who made it
    kind: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[str] = mapped_column(Text, default="")  # comma-separated
    git_url: Mapped[str] = mapped_column(Text, default="")
    git_branch: Mapped[str] = mapped_column(String(255), default="")
    sync_interval: Mapped[int] = mapped_column(Integer, default=0)  # seconds; 0 = on demand only
    sync_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    synced: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sync_status: Mapped[str] = mapped_column(String(16), default="")  # "" | Syncing | Synced | Failed
    sync_message: Mapped[str] = mapped_column(Text, default="")
    commit: Mapped[str] = mapped_column(String(64), default="")
    env_encrypted: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)  # measured, cached
    files: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DatasetGrant(Base):
    """Another group (or the owner group) may use a dataset, read-only or read-write."""

    __tablename__ = "dataset_grants"
    __table_args__ = (UniqueConstraint("dataset", "group", name="uq_dataset_grant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(ForeignKey("datasets.name", ondelete="CASCADE"), index=True)
    group: Mapped[str] = mapped_column(String(255), index=True)
    mode: Mapped[str] = mapped_column(String(2), default="ro")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DatasetVersion(Base):
    """A read-only snapshot of a files dataset that a job can pin as ``name@v<version>``."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset", "version", name="uq_dataset_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(ForeignKey("datasets.name", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(255))
    note: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FolderInvitation(Base):
    """One user shares one of their folders with another user, who accepts, declines or leaves."""

    __tablename__ = "folder_invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    folder: Mapped[str] = mapped_column(String(255))  # a folder of the owner's my-folders area
    invitee: Mapped[str] = mapped_column(String(255), index=True)
    permission: Mapped[str] = mapped_column(String(3), default="ro")
    state: Mapped[str] = mapped_column(String(10), default="pending")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
