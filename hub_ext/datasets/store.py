"""Datasets in the portal DB (with their folders on disk): create, read, change, grant, version, delete.

Who may do what (checked by the API with :func:`may_manage` / :func:`may_delete`):
members of the owner group manage a dataset (change, upload, grant, version, sync);
the owner group's admins, its creator and hub admins delete it. A group that owns or was
granted a dataset sees it; any other group gets 404, whether or not it exists.
"""

from __future__ import annotations

import json
from typing import Callable

from sqlalchemy import delete, func, select, update

from .. import activity
from ..keys import encrypt
from ..bodies import BodyError
from ..jobs.records import Viewer
from ..times import iso
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_storage import Dataset, DatasetGrant, DatasetVersion
from . import disk
from .records import content_dir, env_vars, open_values, usable_by
from .requests import MASK, DatasetCreate

KIND = "dataset"  # the activity kind


class Conflict(Exception):
    """The name is taken (answered with 409)."""


def may_manage(viewer: Viewer, row: Dataset) -> bool:
    return viewer.admin or row.group in viewer.member_of


def may_delete(viewer: Viewer, row: Dataset) -> bool:
    return viewer.admin or row.group in viewer.group_admin_of or row.username == viewer.username


def tags_of(row: Dataset) -> list[str]:
    return [t for t in (row.tags or "").split(",") if t]


class DatasetStore:
    def __init__(self, db_url: str, data_dir: str, key: bytes, hub_prefix: str = "/hub/",
                 gid_of: Callable[[str], int | None] = lambda group: None):
        self.db_url = db_url
        self.data_dir = data_dir
        self.key = key
        self.hub_prefix = hub_prefix
        self.gid_of = gid_of  # a hub group's Unix group (None: isolation off)

    # -- activities ----------------------------------------------------------

    def link(self, name: str) -> str:
        return f"{self.hub_prefix}portal/datasets/{name}"

    def record(self, row: Dataset, username: str, action: str, message: str, status: str = "info",
               group: str | None = None) -> None:
        activity.record(self.db_url, username=username, group=group or row.group, kind=KIND, action=action,
                        status=status, message=message, workload_id=row.name, link=self.link(row.name))

    # -- env values (encrypted at rest) ----------------------------------------

    def entries(self, row: Dataset) -> list[dict]:
        return open_values(self.key, row.env_encrypted)

    def seal(self, entries: list[dict]) -> str:
        return encrypt(self.key, json.dumps(entries)) if entries else ""

    def merged_entries(self, row: Dataset | None, sent) -> list[dict]:
        """The entries sent, a missing value (null) keeping the stored one."""
        old = {e["key"]: e for e in (self.entries(row) if row is not None else [])}
        out, missing = [], []
        for entry in sent:
            value = entry.value if entry.value is not None else old.get(entry.key, {}).get("value")
            if value is None:
                missing.append(entry.key)
            out.append({"key": entry.key, "value": value, "secret": entry.secret})
        if missing:
            raise BodyError({"env": f"a value is needed for {', '.join(missing)}"})
        return out

    # -- create ------------------------------------------------------------------

    def create(self, body: DatasetCreate, group: str, username: str) -> Dataset:
        now = utcnow()
        row = Dataset(name=body.name, group=group, username=username, kind=body.kind,
                      description=body.description or "", tags=",".join(body.tags or []),
                      git_url=body.git_url or "", git_branch=body.git_branch or ("main" if body.kind == "git" else ""),
                      sync_interval=body.sync_interval or 0, sync_requested=body.kind == "git", synced=None,
                      sync_status="Waiting" if body.kind == "git" else "", sync_message="", commit="",
                      env_encrypted=self.seal(self.merged_entries(None, body.env or [])),
                      size=0, files=0, created=now, updated=now)
        with session_scope(self.db_url) as s:
            if s.get(Dataset, body.name) is not None:
                raise Conflict(f"A dataset named {body.name!r} exists already (names are unique on the platform)")
            s.add(row)
        try:
            gid = self.gid_of(group)
            if body.kind == "files":
                disk.ensure_files(self.data_dir, row.name, gid)
            elif body.kind == "git":
                disk.ensure_top(self.data_dir, row.name, gid)
        except Exception:
            with session_scope(self.db_url) as s:
                s.execute(delete(Dataset).where(Dataset.name == row.name))
            raise
        self.record(row, username, "created", f"Dataset {row.name} ({row.kind}) created in {group} by {username}")
        return row

    # -- read ----------------------------------------------------------------------

    def get(self, name: str) -> Dataset | None:
        with read_scope(self.db_url) as s:
            return s.get(Dataset, name)

    def visible(self, name: str, group: str) -> tuple[Dataset, str] | None:
        """The dataset and ``group``'s mode on it ("rw" for the owner group), or None (404)."""
        row = self.get(name)
        if row is None:
            return None
        if row.group == group:
            return row, "rw"
        grant = self.grant_of(name, group)
        return (row, grant.mode) if grant is not None else None

    def grant_of(self, name: str, group: str) -> DatasetGrant | None:
        with read_scope(self.db_url) as s:
            return s.scalars(select(DatasetGrant).where(DatasetGrant.dataset == name,
                                                        DatasetGrant.group == group)).first()

    def list(self, group: str) -> list[tuple[Dataset, str]]:
        with read_scope(self.db_url) as s:
            return usable_by(s, group)

    def grants(self, name: str) -> list[DatasetGrant]:
        with read_scope(self.db_url) as s:
            return list(s.scalars(select(DatasetGrant).where(DatasetGrant.dataset == name)
                                  .order_by(DatasetGrant.group)))

    def versions(self, name: str) -> list[DatasetVersion]:
        with read_scope(self.db_url) as s:
            return list(s.scalars(select(DatasetVersion).where(DatasetVersion.dataset == name)
                                  .order_by(DatasetVersion.version.desc())))

    def measured(self, row: Dataset, fresh: bool = False) -> tuple[int, int]:
        """Size and file count measured on disk (lists: cached a few seconds), kept in the row when they change."""
        path = content_dir(self.data_dir, row)
        if path is None:
            return 0, len(self.entries(row))
        size, files = disk.measure(path, fresh=fresh)
        if (size, files) != (row.size, row.files):
            with session_scope(self.db_url) as s:
                s.execute(update(Dataset).where(Dataset.name == row.name).values(size=size, files=files))
        return size, files

    # -- change --------------------------------------------------------------------

    def update(self, row: Dataset, fields: dict, sent_env, by: str) -> Dataset:
        values = {}
        for name, value in fields.items():
            if name == "env":
                sealed = self.seal(self.merged_entries(row, sent_env))
                if self.entries(row) != self.entries(Dataset(env_encrypted=sealed)):
                    values["env_encrypted"] = sealed
                continue
            if value is None:
                continue
            value = ",".join(value) if name == "tags" else value
            if value != getattr(row, name):
                values[name] = value
        if not values:
            return row
        if {"git_url", "git_branch"} & set(values):
            values.update(sync_requested=True, sync_status="Waiting", sync_message="")
        values["updated"] = utcnow()
        with session_scope(self.db_url) as s:
            s.execute(update(Dataset).where(Dataset.name == row.name).values(**values))
        what = ", ".join(sorted(k for k in values if k not in ("updated", "sync_requested", "sync_status",
                                                                 "sync_message")))
        self.record(row, by, "updated", f"Dataset {row.name} changed by {by}: {what.replace('_encrypted', '')}")
        return self.get(row.name) or row

    def delete(self, row: Dataset, by: str) -> None:
        with session_scope(self.db_url) as s:
            s.execute(delete(DatasetGrant).where(DatasetGrant.dataset == row.name))
            s.execute(delete(DatasetVersion).where(DatasetVersion.dataset == row.name))
            s.execute(delete(Dataset).where(Dataset.name == row.name))
        disk.remove(self.data_dir, row.name)
        self.record(row, by, "deleted", f"Dataset {row.name} deleted by {by}")

    # -- grants --------------------------------------------------------------------

    def grant(self, row: Dataset, grantee: str, mode: str, by: str) -> DatasetGrant:
        with session_scope(self.db_url) as s:
            grant = s.scalars(select(DatasetGrant).where(DatasetGrant.dataset == row.name,
                                                         DatasetGrant.group == grantee)).first()
            if grant is None:
                grant = DatasetGrant(dataset=row.name, group=grantee, mode=mode, created=utcnow())
                s.add(grant)
            grant.mode = mode
            s.flush()
            s.expunge(grant)
        disk.set_grant(self.data_dir, row.name, row.kind, self.gid_of(grantee), mode)
        how = "read-write" if mode == "rw" else "read-only"
        self.record(row, by, "granted", f"Dataset {row.name} granted to group {grantee} ({how}) by {by}")
        self.record(row, by, "granted", f"Group {row.group} granted dataset {row.name} to this group ({how})",
                    group=grantee)
        return grant

    def revoke(self, row: Dataset, grantee: str, by: str) -> bool:
        with session_scope(self.db_url) as s:
            done = s.execute(delete(DatasetGrant).where(DatasetGrant.dataset == row.name,
                                                        DatasetGrant.group == grantee)).rowcount
        if not done:
            return False
        disk.set_grant(self.data_dir, row.name, row.kind, self.gid_of(grantee), None)
        self.record(row, by, "revoked", f"Dataset {row.name} no longer granted to group {grantee} (by {by})")
        self.record(row, by, "revoked", f"Group {row.group} revoked this group's use of dataset {row.name}",
                    group=grantee)
        return True

    # -- versions and syncs ------------------------------------------------------------

    def create_version(self, row: Dataset, note: str, by: str) -> DatasetVersion:
        """Snapshot ``current/`` as the next version (numbered in the DB first, so two at once differ)."""
        with session_scope(self.db_url) as s:
            n = (s.scalar(select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset == row.name)) or 0) + 1
            version = DatasetVersion(dataset=row.name, version=n, username=by, note=note, size=0, files=0,
                                     created=utcnow())
            s.add(version)
        try:
            size, files = disk.snapshot(self.data_dir, row.name, n)
        except Exception:
            with session_scope(self.db_url) as s:
                s.execute(delete(DatasetVersion).where(DatasetVersion.dataset == row.name,
                                                       DatasetVersion.version == n))
            raise
        with session_scope(self.db_url) as s:
            s.execute(update(DatasetVersion).where(DatasetVersion.dataset == row.name, DatasetVersion.version == n)
                      .values(size=size, files=files))
        self.record(row, by, "versioned", f"Dataset {row.name}: version v{n} made by {by} ({files} files)")
        return next(v for v in self.versions(row.name) if v.version == n)

    def request_sync(self, row: Dataset, by: str) -> Dataset:
        with session_scope(self.db_url) as s:
            s.execute(update(Dataset).where(Dataset.name == row.name).values(sync_requested=True))
        self.record(row, by, "sync-requested", f"Dataset {row.name}: sync asked for by {by}")
        return self.get(row.name) or row

    # -- JSON ------------------------------------------------------------------------------

    def as_json(self, row: Dataset, mode: str, viewer: Viewer | None = None, fresh: bool = False) -> dict:
        size, files = self.measured(row, fresh)
        manager = viewer is None or may_manage(viewer, row)
        out = {
            "name": row.name, "group": row.group, "username": row.username, "kind": row.kind,
            "description": row.description, "tags": tags_of(row), "mode": mode, "size": size, "files": files,
            "created": iso(row.created), "updated": iso(row.updated), "link": self.link(row.name),
            "may_manage": manager, "may_delete": viewer is None or may_delete(viewer, row),
            "grants": [self.grant_json(g) for g in self.grants(row.name)],
        }
        if row.kind == "git":
            out["git"] = {"url": row.git_url, "branch": row.git_branch, "sync_interval": row.sync_interval,
                          "status": row.sync_status, "message": row.sync_message, "commit": row.commit or None,
                          "synced": iso(row.synced), "sync_requested": bool(row.sync_requested)}
        if row.kind == "env":
            entries = self.entries(row)
            names = env_vars(row.name, {e["key"]: "" for e in entries})
            out["env"] = [{"key": e["key"], "variable": var, "secret": bool(e["secret"]),
                           "value": None if e["secret"] else e["value"]} for e, var in zip(entries, names)]
        return out

    @staticmethod
    def grant_json(grant: DatasetGrant) -> dict:
        return {"group": grant.group, "mode": grant.mode, "created": iso(grant.created)}

    @staticmethod
    def version_json(version: DatasetVersion) -> dict:
        return {"version": version.version, "ref": f"{version.dataset}@v{version.version}",
                "username": version.username, "note": version.note, "size": version.size,
                "files": version.files, "created": iso(version.created)}


def masked(entry: dict) -> str:
    return MASK if entry.get("secret") else entry.get("value") or ""
