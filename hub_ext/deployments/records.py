"""Deployments in the portal DB: create, read, change, stop/start, delete, clients, history.

The hub writes desired state here (a spec revision, stopped or not, a delete
request); the runner (``hub_ext.services``) makes the replicas match it and
writes back phase, availability and traffic figures.

Limits are checked in the same write transaction that adds or starts a
deployment (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so two
requests at once cannot both take the last place: the group policy's
``deployments_enabled`` and ``deployments_max``, then the license's maximum
with its 10% grace (``license.deployments_over``, the function the banner uses).
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Callable

from sqlalchemy import bindparam, delete, select, text, update

from .. import activity
from ..keys import decrypt, encrypt, token_digest
from ..restart_words import note
from ..bodies import BodyError
from ..jobs.records import Viewer
from ..times import iso, utc
from ..store import session_scope
from ..store.engine import get_engine, read_scope
from ..store.models import utcnow
from ..store.models_deployments import (DEFAULT_COLD_START_TIMEOUT, DEFAULT_SCALE_DOWN_AFTER, Deployment, DeploymentClient,
                                        DeploymentRevision)
from .limits import DeploymentLimits, limits_of
from .requests import (MIN_OVER_REPLICAS, NO_SOURCE, REVISION_FIELDS, TWO_SOURCES, DeploymentCreate, DeploymentPatch,
                       Runtime)
from .scaling import cold_start_words, explained

KIND = "deployment"  # the ledger's workload kind and the activity kind
HISTORY = 32  # update history entries kept per deployment
_PG_LOCK = 7305  # advisory lock key of deployment admission (distinct from the ledger's namespaces)


class LimitError(Exception):
    """A deployment refused by a limit (answered with 403); the message names the limit."""


class Conflict(Exception):
    """The id is taken (answered with 409)."""


def sees(viewer: Viewer, row: Deployment) -> bool:
    """Members of the deployment's group see it (and hub admins)."""
    return viewer.admin or row.group in viewer.member_of


def may_change(viewer: Viewer, row: Deployment) -> bool:
    """The owner, the group's admins and hub admins change it."""
    return viewer.admin or row.username == viewer.username or row.group in viewer.group_admin_of


# a group's deployments, newest first, the statement built once (the Deployments page lists them on every view)
_LIST = (select(Deployment).where(Deployment.group == bindparam("group"), Deployment.delete_requested.is_(False))
         .order_by(Deployment.created.desc()))


class DeploymentStore:
    def __init__(self, db_url: str, key: bytes, hub_prefix: str = "/hub/",
                 license_max: Callable[[], int] | None = None):
        self.db_url = db_url
        self.key = key
        self.hub_prefix = hub_prefix
        self.license_max = license_max  # the license's maximum deployments now (None: not checked)

    # -- secrets ---------------------------------------------------------------

    def seal_env(self, env: dict[str, str]) -> str:
        return encrypt(self.key, json.dumps(env)) if env else ""

    def open_env(self, sealed: str) -> dict[str, str]:
        return json.loads(decrypt(self.key, sealed) or "{}") if sealed else {}

    # -- activities --------------------------------------------------------------

    def link(self, deployment_id: str) -> str:
        return f"{self.hub_prefix}portal/deployments/{deployment_id}"

    def record(self, row: Deployment, action: str, status: str, message: str) -> None:
        activity.record(self.db_url, username=row.username, group=row.group, kind=KIND, action=action,
                        status=status, message=message, workload_id=row.id, link=self.link(row.id))

    # -- limits ------------------------------------------------------------------

    def _admission(self, session, group: str, policy, license_max: int | None, exclude: str | None = None) -> None:
        """Refuse (LimitError) when one more deployment in ``group`` would pass a limit (:mod:`.limits`, what
        the form shows too). ``license_max`` is read before the write transaction (the license check reads the
        DB on its own connection)."""
        if get_engine(self.db_url).dialect.name == "postgresql":
            session.execute(text(f"SELECT pg_advisory_xact_lock({_PG_LOCK})"))
        refusal = limits_of(session, group, policy, license_max, exclude).refusal
        if refusal:
            raise LimitError(refusal)

    def limits(self, group: str, policy, exclude: str | None = None) -> DeploymentLimits:
        """The group's limits now: what the form shows and the API reports (``exclude``: as they would be
        for starting that deployment again)."""
        license_max = self.license_max() if self.license_max else None
        with read_scope(self.db_url) as s:
            return limits_of(s, group, policy, license_max, exclude)

    # -- create ------------------------------------------------------------------

    def create(self, *, group: str, username: str, body: DeploymentCreate, runtime: Runtime, policy) -> Deployment:
        now = utcnow()
        it = runtime.instance_type
        row = Deployment(
            id=body.id, group=group, username=username, name=body.name, description=body.description or "",
            instance_type=it.name, resource_group=runtime.placed, image=runtime.image.name, command=body.command or "",
            model_uri=body.model_uri or "", health_path=body.health_path or default_health(body.model_uri),
            replicas=body.replicas or 1, env_encrypted=self.seal_env(body.env or {}),
            access=body.access or "public", cpu=it.cpu, memory=it.memory, gpu=it.gpu, stopped=False,
            min_replicas=1 if body.min_replicas is None else body.min_replicas,
            scale_down_after=body.scale_down_after or DEFAULT_SCALE_DOWN_AFTER,
            cold_start_timeout=body.cold_start_timeout or DEFAULT_COLD_START_TIMEOUT, wakes=0,
            revision=1, serving_revision=0, phase="Deploying", reason="", message="Waiting for the runner",
            available=0, delete_requested=False, log_size=0, log_read=0, requests=0, errors=0, unauthorized=0,
            created=now, updated=now)
        if row.min_replicas > row.replicas:
            raise BodyError({"min_replicas": MIN_OVER_REPLICAS.format(replicas=row.replicas)})
        license_max = self.license_max() if self.license_max else None
        with session_scope(self.db_url) as s:
            if s.get(Deployment, body.id) is not None:
                raise Conflict(f"A deployment with id {body.id!r} exists already (ids are unique on the platform)")
            self._admission(s, group, policy, license_max)
            s.add(row)
            s.flush()
            s.add(DeploymentRevision(deployment_id=row.id, revision=1, username=username,
                                     changes=json.dumps({"created": True}), spec=json.dumps(spec_of(row)),
                                     created=now))
        self.record(row, "created", "info", f"Deployment {row.name!r} ({row.id}) created in {group}")
        return row

    # -- read ----------------------------------------------------------------------

    def get(self, deployment_id: str) -> Deployment | None:
        with read_scope(self.db_url) as s:
            return s.scalars(select(Deployment).where(Deployment.id == deployment_id,
                                                      Deployment.delete_requested.is_(False))).first()

    def visible(self, deployment_id: str, viewer: Viewer) -> Deployment | None:
        """The deployment if ``viewer`` may see it; None (answer 404) otherwise, whether or not it exists."""
        row = self.get(deployment_id)
        return row if row is not None and sees(viewer, row) else None

    def list(self, group: str) -> list[Deployment]:
        with read_scope(self.db_url) as s:
            return list(s.scalars(_LIST, {"group": group}))

    def history(self, deployment_id: str) -> list[DeploymentRevision]:
        q = (select(DeploymentRevision).where(DeploymentRevision.deployment_id == deployment_id)
             .order_by(DeploymentRevision.id.desc()))
        with read_scope(self.db_url) as s:
            return list(s.scalars(q))

    # -- change --------------------------------------------------------------------

    def update(self, row: Deployment, body: DeploymentPatch | dict, runtime: Runtime | None, by: str) -> Deployment:
        """Apply the fields sent; a change of what runs starts a new revision (rolled out by the runner)."""
        fields = body if isinstance(body, dict) else body.model_dump(exclude_unset=True)
        values, changes = {}, {}
        before = spec_of(row, self.open_env(row.env_encrypted))
        for name, value in fields.items():
            if name == "env":
                if value != before["env"]:
                    values["env_encrypted"] = self.seal_env(value or {})
                    changes["env"] = [sorted(before["env"]), sorted(value or {})]
                continue
            if value is None and name not in ("command", "model_uri"):
                continue
            current = getattr(row, name)
            value = value if value is not None else ""
            if value != current:
                values[name] = value
                changes[name] = [current, value]
        if "model_uri" in values or "command" in values:
            command = values.get("command", row.command)
            model_uri = values.get("model_uri", row.model_uri)
            if bool(command) == bool(model_uri):
                raise BodyError({"command": TWO_SOURCES if command else NO_SOURCE})
            if "health_path" not in fields and model_uri and not row.model_uri:
                values["health_path"] = default_health(model_uri)
        if "min_replicas" in values or "replicas" in values:
            replicas = values.get("replicas", row.replicas)
            if values.get("min_replicas", row.min_replicas) > replicas:
                raise BodyError({"min_replicas": MIN_OVER_REPLICAS.format(replicas=replicas)})
        if runtime is not None:
            it = runtime.instance_type
            values.update(instance_type=it.name, resource_group=runtime.placed, image=runtime.image.name,
                          cpu=it.cpu, memory=it.memory, gpu=it.gpu)
        if not changes:
            return row
        bump = any(name in REVISION_FIELDS for name in changes)
        now = utcnow()
        with session_scope(self.db_url) as s:
            current = s.get(Deployment, row.id)
            for name, value in values.items():
                setattr(current, name, value)
            current.updated = now
            if bump:
                current.revision += 1
                if not current.stopped and current.zero_since is None:  # at zero: rolled out at the next wake
                    current.phase, current.reason, current.message = "Updating", "", "Rolling out the change"
            s.flush()
            # every change is in the history; the latest entry of a revision is its whole spec
            s.add(DeploymentRevision(deployment_id=row.id, revision=current.revision, username=by,
                                     changes=json.dumps(changes, default=str), spec=json.dumps(spec_of(current)),
                                     created=now))
            self._trim_history(s, row.id)
        row = self.get(row.id) or row
        what = ", ".join(sorted(changes))
        self.record(row, "updated", "info", f"Deployment {row.name!r} ({row.id}) changed by {by}: {what}")
        return row

    def _trim_history(self, session, deployment_id: str) -> None:
        keep = select(DeploymentRevision.id).where(DeploymentRevision.deployment_id == deployment_id) \
            .order_by(DeploymentRevision.id.desc()).limit(HISTORY)
        session.execute(delete(DeploymentRevision).where(DeploymentRevision.deployment_id == deployment_id,
                                                         DeploymentRevision.id.not_in(keep.scalar_subquery())))

    def rollback_fields(self, row: Deployment, revision: int) -> dict | None:
        """The spec fields of an earlier revision (None: not in the kept history)."""
        with read_scope(self.db_url) as s:
            entry = s.scalars(select(DeploymentRevision).where(
                DeploymentRevision.deployment_id == row.id, DeploymentRevision.revision == revision)
                .order_by(DeploymentRevision.id.desc())).first()
        if entry is None:
            return None
        spec = json.loads(entry.spec)
        spec["env"] = self.open_env(spec.pop("env_encrypted", ""))
        return spec

    def stop(self, row: Deployment, by: str) -> Deployment:
        with session_scope(self.db_url) as s:
            s.execute(update(Deployment).where(Deployment.id == row.id, Deployment.stopped.is_(False)).values(
                stopped=True, phase="Stopping", reason="", message=f"Stopped by {by}", updated=utcnow()))
        self.record(row, "stopping", "info", f"Deployment {row.name!r} ({row.id}) stopped by {by}")
        return self.get(row.id) or row

    def start(self, row: Deployment, by: str, policy) -> Deployment:
        license_max = self.license_max() if self.license_max else None
        with session_scope(self.db_url) as s:
            current = s.get(Deployment, row.id)
            if not current.stopped:
                return current
            self._admission(s, row.group, policy, license_max, exclude=row.id)
            current.stopped, current.phase, current.reason, current.zero_since = False, "Deploying", "", None
            current.message, current.updated = f"Started by {by}", utcnow()
        self.record(row, "starting", "info", f"Deployment {row.name!r} ({row.id}) started by {by}")
        return self.get(row.id) or row

    def delete(self, row: Deployment, by: str) -> None:
        """Hide it now; the runner stops its replicas and removes it with its history, clients and logs."""
        with session_scope(self.db_url) as s:
            s.execute(update(Deployment).where(Deployment.id == row.id).values(
                delete_requested=True, stopped=True, updated=utcnow()))
        self.record(row, "deleted", "info", f"Deployment {row.name!r} ({row.id}) deleted by {by}")

    def purge(self, deployment_id: str) -> None:
        with session_scope(self.db_url) as s:
            s.execute(delete(Deployment).where(Deployment.id == deployment_id))

    # -- clients ---------------------------------------------------------------------

    def clients(self, deployment_id: str) -> list[DeploymentClient]:
        q = select(DeploymentClient).where(DeploymentClient.deployment_id == deployment_id) \
            .order_by(DeploymentClient.name)
        with read_scope(self.db_url) as s:
            return list(s.scalars(q))

    def add_client(self, row: Deployment, name: str, expires: datetime | None, by: str) -> tuple[DeploymentClient, str]:
        """A new client and its token (returned once; only its digest is kept)."""
        token = secrets.token_urlsafe(32)
        client = DeploymentClient(deployment_id=row.id, name=name, token_digest=token_digest(token),
                                  expires=utc(expires) if expires else None, revoked=None, created_by=by,
                                  created=utcnow())
        with session_scope(self.db_url) as s:
            if s.scalars(select(DeploymentClient).where(DeploymentClient.deployment_id == row.id,
                                                        DeploymentClient.name == name)).first():
                raise Conflict(f"Deployment {row.id} has a client named {name!r} already")
            s.add(client)
        self.record(row, "client-added", "info", f"Client {name!r} of deployment {row.id} added by {by}")
        return client, token

    def revoke_client(self, row: Deployment, name: str, by: str) -> bool:
        with session_scope(self.db_url) as s:
            done = s.execute(update(DeploymentClient).where(
                DeploymentClient.deployment_id == row.id, DeploymentClient.name == name,
                DeploymentClient.revoked.is_(None)).values(revoked=utcnow())).rowcount
        if done:
            self.record(row, "client-revoked", "info", f"Client {name!r} of deployment {row.id} revoked by {by}")
        return bool(done)

    # -- JSON --------------------------------------------------------------------------

    def as_json(self, row: Deployment, viewer: Viewer | None = None, public_url: str = "") -> dict:
        env = self.open_env(row.env_encrypted)
        changer = viewer is None or may_change(viewer, row)
        return {
            "id": row.id, "group": row.group, "username": row.username, "name": row.name,
            "description": row.description, "instance_type": row.instance_type,
            "resource_group": row.resource_group or None, "image": row.image,
            "command": row.command or None, "model_uri": row.model_uri or None, "health_path": row.health_path,
            "replicas": row.replicas, "available": row.available,
            # values only for those who may change it: they may hold credentials
            "env": env if changer else {k: "" for k in env}, "access": row.access,
            "resources": {"cpu": row.cpu, "memory": row.memory, "gpu": row.gpu},
            "stopped": bool(row.stopped), "phase": row.phase, "reason": row.reason or None,
            "message": viewer.words(row.message) if viewer is not None else row.message,
            # its replicas' restarts in a row (the latest revision's most restarted one) and why the last one was
            "restarts": row.restarts or 0, "restart_reason": row.restart_reason or None,
            "restart_note": note(row.restarts or 0, row.restart_reason, row.restart_message) or None,
            "revision": row.revision, "serving_revision": row.serving_revision or None,
            "endpoint": f"{public_url}/deployments/{row.id}/",
            "traffic": {"requests": row.requests, "errors": row.errors, "unauthorized": row.unauthorized,
                        "latency_p50_ms": row.latency_p50, "latency_p99_ms": row.latency_p99},
            "min_replicas": row.min_replicas, "scale_down_after": row.scale_down_after,
            "cold_start_timeout": row.cold_start_timeout, "scale_to_zero": self.zero_json(row),
            "created": iso(row.created), "updated": iso(row.updated), "link": self.link(row.id),
        }

    @staticmethod
    def zero_json(row: Deployment) -> dict:
        """Scale to zero as it stands: at zero since when, the last request the endpoint counted, the last cold
        start (seconds from a wake to a ready replica, and in words) and how often it was woken."""
        return {"enabled": row.min_replicas == 0, "at_zero": row.at_zero, "since": iso(row.zero_since),
                "text": explained(row.min_replicas, row.replicas, row.at_zero, row.scale_down_after,
                                  row.cold_start_timeout),
                "last_request": iso(row.last_request), "last_cold_start_s": row.last_cold_start,
                "last_cold_start": cold_start_words(row.last_cold_start) if row.last_cold_start is not None else None,
                "last_cold_start_at": iso(row.last_cold_start_at), "wakes": row.wakes or 0}

    @staticmethod
    def client_json(client: DeploymentClient) -> dict:
        return {"name": client.name, "created": iso(client.created), "created_by": client.created_by,
                "expires": iso(client.expires), "revoked": iso(client.revoked)}

    @staticmethod
    def revision_json(entry: DeploymentRevision) -> dict:
        return {"revision": entry.revision, "username": entry.username,
                "created": iso(entry.created), "changes": json.loads(entry.changes)}


def default_health(model_uri: str | None) -> str:
    from .requests import MODEL_HEALTH_PATH

    return MODEL_HEALTH_PATH if model_uri else "/"


def spec_of(row: Deployment, env: dict | None = None) -> dict:
    """The fields a revision is made of (env sealed unless given)."""
    spec = {name: getattr(row, name) for name in ("instance_type", "resource_group", "image", "command", "model_uri", "health_path",
                                                   "replicas", "access", "name", "description", "min_replicas",
                                                   "scale_down_after", "cold_start_timeout")}
    if env is None:
        spec["env_encrypted"] = row.env_encrypted
    else:
        spec["env"] = env
    return spec
