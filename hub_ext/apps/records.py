"""Installed apps in the portal DB: install, read, change settings, stop/start, uninstall.

The hub writes desired state here (settings, a revision that grows with each change that
needs a restart, stopped or not, an uninstall request with or without the data); the
runner (``hub_ext.services.apps``) makes the app's process match it and writes back
phase, reason, message and ``endpoint``. Settings are columns of the row, so they are
kept across stops, starts and runner restarts. Environment overrides are stored
encrypted, as deployments' are.

Who may do what: members of the group (and hub admins) see its apps; the group's
admins and hub admins install, change, stop, start and uninstall them (an app is the
group's, not its installer's, and runs as the group's service account).
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import activity
from ..jobs.records import JobStore, Viewer
from ..quantities import format_duration
from ..times import iso
from ..ledger.workloads import app_id
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_apps import App
from .requests import AppInstall
from .restarts import note as restart_note
from .origin import app_origin
from .templates import Apps, AppTemplate

KIND = "app"  # the ledger's workload kind and the activity kind


class Conflict(Exception):
    """The name is taken in the group (answered with 409)."""


def sees(viewer: Viewer, row: App) -> bool:
    return viewer.admin or row.group in viewer.member_of


def may_change(viewer: Viewer, row_or_group) -> bool:
    group = row_or_group if isinstance(row_or_group, str) else row_or_group.group
    return viewer.admin or group in viewer.group_admin_of


def reservation_id(row: App) -> str:
    """The app's workload id in the ledger (:func:`hub_ext.ledger.workloads.app_id`)."""
    return app_id(row.id, row.revision)


def executor_id(row: App) -> str:
    """The app's id for its executor: a DNS label (a Kubernetes object name), unique per installation,
    ``<name>-<app id>``. Apps have an executor instance of their own (kind ``app``), so it never
    names a deployment's replicas, cgroups, state files or objects."""
    return f"{row.name[:40]}-{row.id}"


# a group's apps, the statement built once (the Apps page lists them on every view)
_LIST = select(App).where(App.group == bindparam("group"), App.delete_requested.is_(False)).order_by(App.name)


class AppStore:
    def __init__(self, db_url: str, key: bytes, hub_prefix: str = "/hub/"):
        self.db_url = db_url
        self.key = key
        self.hub_prefix = hub_prefix

    # -- secrets (encrypted at rest, as jobs' are) and activities -------------------------------

    seal_env = JobStore.seal_env
    open_env = JobStore.open_env

    def link(self) -> str:
        return f"{self.hub_prefix}portal/apps"

    def record(self, row: App, action: str, status: str, message: str, username: str | None = None) -> None:
        activity.record(self.db_url, username=username or row.username, group=row.group, kind=KIND, action=action,
                        status=status, message=message, workload_id=f"{row.group}/{row.name}", link=self.link())

    # -- install and read --------------------------------------------------------------------

    def install(self, *, group: str, username: str, body: AppInstall, template: AppTemplate, instance_type,
                env: dict[str, str], resource_group: str = "") -> App:
        now = utcnow()
        row = App(group=group, name=body.name, template=template.name, template_version=template.version,
                  display_name=body.display_name or template.display_name, username=username,
                  instance_type=instance_type.name, cpu=instance_type.cpu, memory=instance_type.memory,
                  gpu=instance_type.gpu, resource_group=resource_group, env_encrypted=self.seal_env(env), access=body.access or "group",
                  stopped=False, revision=1, running_revision=0, phase="Installing", reason="",
                  message="Waiting for the runner", delete_requested=False, delete_data=False, log_size=0,
                  log_read=0, endpoint="", created=now, updated=now, idle_timeout=body.idle_timeout or None)
        try:
            with session_scope(self.db_url) as s:
                if self._find(s, group, body.name, hidden=True) is not None:
                    raise Conflict(f"Group {group} has an app named {body.name!r} already")
                s.add(row)
        except IntegrityError:
            raise Conflict(f"Group {group} has an app named {body.name!r} already") from None
        self.record(row, "installed", "info", f"App {row.name!r} ({template.display_name}) installed in {group} "
                                              f"by {username}")
        return row

    @staticmethod
    def _find(session, group: str, name: str, hidden: bool = False) -> App | None:
        q = select(App).where(App.group == group, App.name == name)
        if not hidden:
            q = q.where(App.delete_requested.is_(False))
        return session.scalars(q).first()

    def get(self, group: str, name: str) -> App | None:
        with read_scope(self.db_url) as s:
            return self._find(s, group, name)

    def by_id(self, app_id: int) -> App | None:
        with read_scope(self.db_url) as s:
            return s.get(App, app_id)

    def list(self, group: str) -> list[App]:
        with read_scope(self.db_url) as s:
            return list(s.scalars(_LIST, {"group": group}))

    # -- change ------------------------------------------------------------------------------

    def update(self, row: App, fields: dict, instance_type, by: str) -> App:
        """Apply the fields sent; a new instance type or environment bumps the revision (the runner restarts
        a running app with it), display name and access change in place."""
        values, changed = {}, []
        if fields.get("display_name") and fields["display_name"] != row.display_name:
            values["display_name"] = fields["display_name"]
            changed.append("display_name")
        if fields.get("access") and fields["access"] != row.access:
            values["access"] = fields["access"]
            changed.append("access")
        if fields.get("idle_timeout") is not None and (fields["idle_timeout"] or None) != row.idle_timeout:
            values["idle_timeout"] = fields["idle_timeout"] or None  # 0 ("never"): none
            changed.append("idle_timeout")
        restart = []
        if fields.get("env") is not None and fields["env"] != self.open_env(row.env_encrypted):
            values["env_encrypted"] = self.seal_env(fields["env"])
            restart.append("env")
        if instance_type is not None and instance_type.name != row.instance_type:
            values.update(instance_type=instance_type.name, cpu=instance_type.cpu, memory=instance_type.memory,
                          gpu=instance_type.gpu)
            restart.append("instance_type")
        if fields.get("resource_group") and fields["resource_group"] != row.resource_group:
            values["resource_group"] = fields["resource_group"]
            restart.append("resource_group")
        if not values:
            return row
        with session_scope(self.db_url) as s:
            current = s.get(App, row.id)
            for name, value in values.items():
                setattr(current, name, value)
            current.updated = utcnow()
            if restart:
                current.revision += 1
                current.restarts = 0  # new processes: their restarts count from 0
                if not current.stopped:
                    current.phase, current.reason, current.message = "Starting", "", "Restarting with the new settings"
        row = self.by_id(row.id) or row
        self.record(row, "updated", "info", f"App {row.name!r} of {row.group} changed by {by}: "
                                            f"{', '.join(sorted(changed + restart))}"
                                            + (" (restarting)" if restart and not row.stopped else ""), by)
        return row

    def stop(self, row: App, by: str, idle: bool = False) -> App:
        """Stop it (``idle``: the runner, after its idle timeout without requests; the card says so)."""
        why = f"Stopped after {format_duration(row.idle_timeout)} without requests" if idle else f"Stopped by {by}"
        with session_scope(self.db_url) as s:
            s.execute(update(App).where(App.id == row.id, App.stopped.is_(False)).values(
                stopped=True, phase="Stopping", reason="Idle" if idle else "", message=why, updated=utcnow()))
        self.record(row, "stopping", "info", f"App {row.name!r} of {row.group}: {why[0].lower()}{why[1:]}"
                    if idle else f"App {row.name!r} of {row.group} stopped by {by}", None if idle else by)
        return self.by_id(row.id) or row

    def start(self, row: App, by: str) -> App:
        """Start a stopped app, or again one the runner no longer restarts (Failed): restarts count from 0."""
        with session_scope(self.db_url) as s:
            s.execute(update(App).where(App.id == row.id, or_(App.stopped.is_(True), App.phase == "Failed")).values(
                stopped=False, phase="Starting", reason="", message=f"Started by {by}", restarts=0, updated=utcnow()))
        self.record(row, "starting", "info", f"App {row.name!r} of {row.group} started by {by}", by)
        return self.by_id(row.id) or row

    def uninstall(self, row: App, by: str, delete_data: bool) -> None:
        """Hide it now; the runner stops it, releases its reservation, removes its data if asked, then the row."""
        with session_scope(self.db_url) as s:
            s.execute(update(App).where(App.id == row.id).values(
                delete_requested=True, delete_data=delete_data, stopped=True, updated=utcnow()))
        kept = "its data removed" if delete_data else "its data kept in the group's storage"
        self.record(row, "uninstalled", "info", f"App {row.name!r} uninstalled from {row.group} by {by} ({kept})", by)

    def purge(self, app_id: int) -> None:
        with session_scope(self.db_url) as s:
            s.execute(delete(App).where(App.id == app_id))

    # -- JSON ----------------------------------------------------------------------------------

    def as_json(self, row: App, viewer: Viewer | None, template: AppTemplate | None,
                origin: str = Apps.class_traits()["origin"].default_value) -> dict:
        """The app for the API and pages; ``url`` at its own origin (``origin``: ``c.Apps.origin``)."""
        env = self.open_env(row.env_encrypted)
        secret = template.secrets if template else set()
        changer = viewer is None or may_change(viewer, row)
        # secrets are never echoed; other values only to those who may change the app
        shown = {k: ("" if k in secret or not changer else v) for k, v in env.items()}
        url = app_origin(origin, row.group, row.name) + "/"
        return {
            "name": row.name, "group": row.group, "template": row.template, "version": row.template_version,
            "display_name": row.display_name, "installed_by": row.username, "instance_type": row.instance_type,
            "resource_group": row.resource_group or None,
            "resources": {"cpu": row.cpu, "memory": row.memory, "gpu": row.gpu}, "env": shown,
            "access": row.access, "stopped": bool(row.stopped), "phase": row.phase, "reason": row.reason or None,
            "message": viewer.words(row.message) if viewer is not None else row.message,
            "revision": row.revision, "running_revision": row.running_revision or None,
            # restarts of its process in a row, and why the last one happened ("OOMKilled", "Out of memory …")
            "restarts": row.restarts or 0, "last_restart_reason": row.restart_reason or None,
            "last_restart_message": row.restart_message or None,
            "restart_note": restart_note(row.restarts or 0, row.restart_reason, row.restart_message) or None,
            "idle_timeout": row.idle_timeout or None,
            "url": url, "path": url, "registry": bool(template and template.registry),
            "created": iso(row.created), "updated": iso(row.updated),
        }
