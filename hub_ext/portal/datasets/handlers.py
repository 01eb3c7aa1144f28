"""Datasets: the REST API (thin: parse, check permission, call the store, wake the runner).

Git syncs are the runner's: it looks for datasets asked to sync every few seconds
(``Datasets.sync_poll``). Every path names the caller's group (``{group}``): the datasets it owns or was granted. A
dataset the group may not use answers 404, whether or not it exists. Members of the owner
group manage a dataset; its group admins, its creator and hub admins delete it.
"""

from __future__ import annotations

from jupyterhub.scopes import needs_scope
from tornado import web

from ...bodies import BodyError, NoFields
from ...datasets.requests import (
    DNS_LABEL, DatasetCreate, DatasetPatch, GrantSet, VersionCreate, check_git_host, check_git_url, check_interval,
    kind_fields,
)
from ...datasets.store import Conflict, may_delete, may_manage
from ...groups import find_group
from ...datasets.records import upload_root
from ...scopes import READ, WRITE
from ...storage.uploads import register_area
from ..common.member import MemberAPIHandler
from .service import dataset_settings, dataset_store


class _DatasetsAPI(MemberAPIHandler):
    @property
    def store(self):
        return dataset_store(self)

    def acting_group(self, group_name: str):
        """The group the caller acts in: one they are a member of (hub admins: any)."""
        return self.visible_group(group_name) if self.current_user.admin else self.member_group(group_name)

    def dataset(self, group_name: str, name: str):
        """(group, row, mode) of a dataset the group may use; 404 otherwise."""
        group = self.acting_group(group_name)
        found = self.store.visible(name, group.name) if DNS_LABEL.match(name) else None
        if found is None:
            raise web.HTTPError(404, f"No such dataset: {name}")
        return group, *found

    def managed(self, group_name: str, name: str):
        """A dataset the caller may manage: acting in its owner group (403 from a granted group)."""
        group, row, mode = self.dataset(group_name, name)
        if row.group != group.name or not may_manage(self.viewer, row):
            raise web.HTTPError(403, f"Only members of group {row.group} manage dataset {row.name}")
        return group, row, mode

    async def checked(self, kind: str, sent: dict) -> bool:
        """Kind-dependent rules and the operator's settings (a git host resolving to a refused address
        included); False after answering 400."""
        settings = dataset_settings(self)
        try:
            kind_fields(kind, sent)
            if sent.get("git_url"):
                check_git_url(sent["git_url"], settings.allow_local_git_urls, settings.networks())
                await check_git_host(sent["git_url"], settings.networks(), settings.resolve_timeout)
            check_interval(sent.get("sync_interval"), settings.min_sync_interval)
        except BodyError as exc:
            self.field_error(exc.errors)
            return False
        return True

    def dataset_json(self, row, mode: str, fresh: bool = False) -> dict:
        return self.store.as_json(row, mode, self.viewer, fresh)


class GroupDatasetsAPIHandler(_DatasetsAPI):
    """GET (the datasets the group owns or was granted) and POST (create, owned by the group)."""

    @needs_scope(READ)
    def get(self, group_name):
        group = self.acting_group(group_name)
        self.write_json({"group": group.name, "datasets": [self.dataset_json(row, mode)
                                                           for row, mode in self.store.list(group.name)]})

    @needs_scope(WRITE)
    async def post(self, group_name):
        group = self.acting_group(group_name)
        body = self.body(DatasetCreate)
        if body is None or not await self.checked(body.kind, body.model_dump(exclude_unset=True)):
            return
        try:
            row = self.store.create(body, group.name, self.current_user.name)
        except Conflict as exc:
            self.field_error({"name": str(exc)}, 409)
        except BodyError as exc:
            self.field_error(exc.errors)
        self.set_status(201)
        self.write_json(self.dataset_json(row, "rw"))


class DatasetAPIHandler(_DatasetsAPI):
    """GET, PATCH, DELETE: …/groups/{group}/datasets/{dataset}."""

    @needs_scope(READ)
    def get(self, group_name, name):
        _, row, mode = self.dataset(group_name, name)
        self.write_json({**self.dataset_json(row, mode, fresh=True),
                         "versions": [self.store.version_json(v) for v in self.store.versions(row.name)]})

    @needs_scope(WRITE)
    async def patch(self, group_name, name):
        _, row, mode = self.managed(group_name, name)
        body = self.body(DatasetPatch)
        fields = body.model_dump(exclude_unset=True)
        if not await self.checked(row.kind, fields):
            return
        try:
            row = self.store.update(row, fields, body.env, self.current_user.name)
        except BodyError as exc:
            self.field_error(exc.errors)
        self.write_json(self.dataset_json(row, mode))

    @needs_scope(WRITE)
    def delete(self, group_name, name):
        _, row, _mode = self.dataset(group_name, name)
        if not may_delete(self.viewer, row):
            raise web.HTTPError(403, f"Only admins of group {row.group}, its creator and hub admins delete "
                                     f"dataset {row.name}")
        self.store.delete(row, self.current_user.name)
        self.set_status(204)
        self.finish()


class GrantAPIHandler(_DatasetsAPI):
    """PUT (grant or change the mode) and DELETE (revoke): …/datasets/{dataset}/grants/{grantee}."""

    def grantee(self, row, grantee: str) -> str:
        other = find_group(self.db, grantee)
        if other is None:
            raise web.HTTPError(404, f"No such group: {grantee}")
        return other.name

    @needs_scope(WRITE)
    def put(self, group_name, name, grantee):
        _, row, _mode = self.managed(group_name, name)
        body = self.body(GrantSet)
        grantee = self.grantee(row, grantee)
        if grantee == row.group:
            self.field_error({"grantee": f"group {grantee} owns dataset {row.name}"})
        if body.mode == "rw" and row.kind != "files":
            self.field_error({"mode": f"a {row.kind} dataset is read-only for every group"})
        grant = self.store.grant(row, grantee, body.mode, self.current_user.name)
        self.write_json(self.store.grant_json(grant))

    @needs_scope(WRITE)
    def delete(self, group_name, name, grantee):
        _, row, _mode = self.managed(group_name, name)
        if not self.store.revoke(row, grantee, self.current_user.name):
            raise web.HTTPError(404, f"Dataset {row.name} is not granted to {grantee}")
        self.set_status(204)
        self.finish()


class VersionsAPIHandler(_DatasetsAPI):
    """GET (newest first) and POST (snapshot the files now): …/datasets/{dataset}/versions."""

    @needs_scope(READ)
    def get(self, group_name, name):
        _, row, _mode = self.dataset(group_name, name)
        self.write_json({"dataset": row.name, "versions": [self.store.version_json(v)
                                                           for v in self.store.versions(row.name)]})

    @needs_scope(WRITE)
    def post(self, group_name, name):
        _, row, _mode = self.managed(group_name, name)
        body = self.body(VersionCreate)
        if row.kind != "files":
            self.field_error({"dataset": f"only files datasets have versions (this one is {row.kind})"})
        version = self.store.create_version(row, body.note, self.current_user.name)
        self.set_status(201)
        self.write_json(self.store.version_json(version))


class SyncAPIHandler(_DatasetsAPI):
    """POST: the runner syncs the git dataset now (202; the status shows how it went)."""

    @needs_scope(WRITE)
    def post(self, group_name, name):
        _, row, mode = self.managed(group_name, name)
        self.body(NoFields)
        if row.kind != "git":
            self.field_error({"dataset": f"only git datasets sync (this one is {row.kind})"})
        row = self.store.request_sync(row, self.current_user.name)  # the runner looks every few seconds
        self.set_status(202)
        self.write_json(self.dataset_json(row, mode))


register_area("dataset", upload_root)  # uploads into a files dataset: the Shared Files uploader's

_ID = r"([^/]+)"
_DS = rf"/api/portal/groups/{_ID}/datasets"
handlers = [
    (_DS, GroupDatasetsAPIHandler),
    (rf"{_DS}/{_ID}", DatasetAPIHandler),
    (rf"{_DS}/{_ID}/grants/{_ID}", GrantAPIHandler),
    (rf"{_DS}/{_ID}/versions", VersionsAPIHandler),
    (rf"{_DS}/{_ID}/sync", SyncAPIHandler),
]
from .pages import handlers as _pages; handlers += _pages  # noqa: E402
from .files import handlers as _files; handlers += _files  # noqa: E402
