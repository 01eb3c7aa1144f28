"""Model deployments: the desired state the hub writes and the runner reconciles (issue 11).

The schema is owned by migration ``0006`` (scale to zero: ``0016``); times are stored in UTC. Environment
variables are stored encrypted (Fernet), client tokens as sha256 digests (they
carry 256 random bits, as invitation tokens do), never in plain text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, \
    UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow

PHASES = ("Deploying", "Deployed", "Updating", "ScaledToZero", "Stopping", "Stopped", "Failed")
# phases in which a deployment counts against the license and its group's maximum (at zero it wakes on the
# next request, so it still counts)
NOT_STOPPED = ("Deploying", "Deployed", "Updating", "ScaledToZero", "Failed")
SCALED_TO_ZERO = "ScaledToZero"
DEFAULT_SCALE_DOWN_AFTER = 1800  # seconds without requests before a deployment with min_replicas 0 scales to zero
DEFAULT_COLD_START_TIMEOUT = 120  # seconds a request at zero is held while the deployment wakes


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)  # a DNS label: the endpoint's path
    group: Mapped[str] = mapped_column(String(255), index=True)
    username: Mapped[str] = mapped_column(String(255))  # the owner: replicas run as this account
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    instance_type: Mapped[str] = mapped_column(String(255))
    resource_group: Mapped[str] = mapped_column(String(255), default="")  # hub_ext.resource_groups ("": the first)
    image: Mapped[str] = mapped_column(String(255), default="")
    command: Mapped[str] = mapped_column(Text, default="")  # the serve command (image deployments)
    model_uri: Mapped[str] = mapped_column(String(1024), default="")  # models:/<name>/<version> (model deployments)
    health_path: Mapped[str] = mapped_column(String(255), default="/")
    replicas: Mapped[int] = mapped_column(Integer, default=1)
    env_encrypted: Mapped[str] = mapped_column(Text, default="")
    access: Mapped[str] = mapped_column(String(8), default="public")  # public | private
    # the instance type's limits per replica at the revision: what each replica reserves
    cpu: Mapped[float] = mapped_column(Float, default=0.0)
    memory: Mapped[int] = mapped_column(BigInteger, default=0)
    gpu: Mapped[int] = mapped_column(Integer, default=0)
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)  # desired: stopped (True) or serving
    revision: Mapped[int] = mapped_column(Integer, default=1)  # desired revision: grows with every change
    serving_revision: Mapped[int] = mapped_column(Integer, default=0)  # the revision that serves (0: none)
    phase: Mapped[str] = mapped_column(String(16), default="Deploying")
    reason: Mapped[str] = mapped_column(String(32), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    available: Mapped[int] = mapped_column(Integer, default=0)  # ready replicas of the serving revision
    delete_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    log_size: Mapped[int] = mapped_column(BigInteger, default=0)
    log_read: Mapped[int] = mapped_column(BigInteger, default=0)
    # endpoint traffic, written by the runner now and then
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    unauthorized: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_p50: Mapped[float | None] = mapped_column(Float, nullable=True)  # milliseconds
    latency_p99: Mapped[float | None] = mapped_column(Float, nullable=True)
    # scale to zero (migration 0016): with min_replicas 0 the runner ends every replica after
    # scale_down_after seconds without requests (zero_since says since when); the next request wakes it
    min_replicas: Mapped[int] = mapped_column(Integer, default=1)
    scale_down_after: Mapped[int] = mapped_column(Integer, default=DEFAULT_SCALE_DOWN_AFTER)  # seconds
    cold_start_timeout: Mapped[int] = mapped_column(Integer, default=DEFAULT_COLD_START_TIMEOUT)  # seconds
    zero_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_request: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_cold_start: Mapped[float | None] = mapped_column(Float, nullable=True)  # seconds from wake to ready
    last_cold_start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    wakes: Mapped[int] = mapped_column(Integer, default=0)
    # the latest revision's most restarted replica: restarts in a row and why the last one ended (0017)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    restart_reason: Mapped[str] = mapped_column(String(32), default="")
    restart_message: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def counts(self) -> bool:
        """Whether it counts against the group's maximum and the license (not stopped, not being deleted)."""
        return not self.stopped and not self.delete_requested

    @property
    def at_zero(self) -> bool:
        """Scaled to zero: no replica runs and nothing is reserved; the next request wakes it."""
        return self.zero_since is not None and not self.stopped


class DeploymentRevision(Base):
    """One entry of a deployment's update history: who changed what, and the whole spec for a rollback."""

    __tablename__ = "deployment_revisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(255))
    changes: Mapped[str] = mapped_column(Text)  # JSON: {field: [before, after]} (env: names only)
    spec: Mapped[str] = mapped_column(Text)  # JSON of the spec fields (env sealed)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeploymentClient(Base):
    """A named client of a private deployment: its token's digest, expiry and revocation."""

    __tablename__ = "deployment_clients"
    __table_args__ = (UniqueConstraint("deployment_id", "name", name="uq_deployment_client"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    token_digest: Mapped[str] = mapped_column(String(64))
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeploymentLogChunk(Base):
    """A piece of a deployment's replicas' output, persisted by the runner (offsets as for jobs)."""

    __tablename__ = "deployment_log_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    offset: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
