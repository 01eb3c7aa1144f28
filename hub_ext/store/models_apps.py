"""Apps installed into a group: the desired state the hub writes and the runner reconciles
(issue 13). The schema is owned by migration ``0010``; times are stored in UTC.

An app is an instance of a template of the catalog (``mlflow``, ``streamlit``,
``code-server``...) in one group, reachable at ``/apps/<group>/<name>/``. It runs as the
group's service account (not as the user who installed it), reserves its instance type
in the ledger (kind ``app``), and keeps its settings across restarts. Environment
overrides are stored encrypted (Fernet), as deployments' are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, \
    UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow

APP_PHASES = ("Installing", "Starting", "Running", "Stopping", "Stopped", "Failed")
ACCESS_SCOPES = ("group", "users", "public")  # group members only (default), any logged-in user, anyone


class App(Base):
    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("group", "name", name="uq_app_group_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(63))  # a DNS label: /apps/<group>/<name>/
    template: Mapped[str] = mapped_column(String(63))  # the catalog template's name
    template_version: Mapped[str] = mapped_column(String(63), default="")
    display_name: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str] = mapped_column(String(255))  # who installed it (it runs as the group's service account)
    instance_type: Mapped[str] = mapped_column(String(255))
    resource_group: Mapped[str] = mapped_column(String(255), default="")  # hub_ext.resource_groups ("": the first)
    cpu: Mapped[float] = mapped_column(Float, default=0.0)  # the instance type's limits when (re)started
    memory: Mapped[int] = mapped_column(BigInteger, default=0)
    gpu: Mapped[int] = mapped_column(Integer, default=0)
    env_encrypted: Mapped[str] = mapped_column(Text, default="")  # Fernet token of a JSON object of overrides
    access: Mapped[str] = mapped_column(String(8), default="group")  # one of ACCESS_SCOPES
    # Fernet token of {"JUPYTERHUB_API_TOKEN": ...}: the token of the app's hub service while it runs (0012)
    token_encrypted: Mapped[str] = mapped_column(Text, default="")
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)  # desired: stopped (True) or running
    revision: Mapped[int] = mapped_column(Integer, default=1)  # grows with every change that needs a restart
    running_revision: Mapped[int] = mapped_column(Integer, default=0)  # the revision that runs (0: none)
    phase: Mapped[str] = mapped_column(String(16), default="Installing")
    reason: Mapped[str] = mapped_column(String(32), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    # restarts of its process in a row (ended without staying up in between) and why the last one ended: a
    # reason of DeploymentStatus.restart_reason ("OOMKilled") and its words ("Out of memory (limit 1 GiB)") (0014)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    restart_reason: Mapped[str] = mapped_column(String(32), default="")
    restart_message: Mapped[str] = mapped_column(Text, default="")
    idle_timeout: Mapped[int | None] = mapped_column(Integer, nullable=True)  # stopped after this long without requests
    delete_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    delete_data: Mapped[bool] = mapped_column(Boolean, default=False)  # uninstall also removes its data
    log_size: Mapped[int] = mapped_column(BigInteger, default=0)
    log_read: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes of the executor's stream already copied
    # where the runner reaches the running app ("http://127.0.0.1:41234", a Service URL on Kubernetes; "": not
    # running): the hub's own reads of an app (the Models page on a bound MLflow app) go there, not through /apps/
    endpoint: Mapped[str] = mapped_column(String(255), default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AppLogChunk(Base):
    """A piece of an app's output (offsets as for jobs: ``hub_ext.jobs.logs``)."""

    __tablename__ = "app_log_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    offset: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
