"""A dataset's files through the files API, for the Shared Files browser on the dataset's page.

``/hub/api/portal/groups/{group}/datasets/{name}/files/{path}``: what the group's files API does
(:mod:`hub_ext.portal.files.handlers`: a folder's listing, a file's bytes, ``?download=zip``,
``?preview=1``; ``POST ?op=mkdir|move`` and ``DELETE``), on the folder workloads see at
``~/datasets/<name>``: a files dataset's current files, a git dataset's clone (its ``.git``
left out). Any group that may use the dataset reads it; only one that may write it (the owner
group, or a read-write grant, of a files dataset) changes it, and the listing says which
(``writable``). Uploads go through the uploads API (area ``dataset:<name>``), as before.
"""

from __future__ import annotations

from jupyterhub.scopes import needs_scope
from tornado import web

from ...datasets.records import content_dir
from ...datasets.requests import DNS_LABEL
from ...scopes import READ, WRITE
from ..files.common import Refused, require_group_storage
from ..files.handlers import FilesAPIHandler, RootFilesAPIHandler
from ..files.service import TreeFiles
from .service import dataset_store


class _DatasetFiles:
    """What makes the files API's handlers serve a dataset's files (``self.name``: the dataset's)."""

    def member_group(self, group_name: str):
        """The group the caller acts in (a member; hub admins: any), and the dataset it may use (404 else)."""
        group = self.visible_group(group_name) if self.current_user.admin else super().member_group(group_name)
        found = dataset_store(self).visible(self.name, group.name) if DNS_LABEL.match(self.name) else None
        if found is None or found[0].kind == "env":  # an env dataset has no files
            raise web.HTTPError(404, f"No such dataset: {self.name}")
        self.row, mode = found
        self.writable = self.row.kind == "files" and mode == "rw"
        return group

    async def tree(self, group: str) -> TreeFiles:
        require_group_storage(self.hubfront)  # the hub reaches datasets where it reaches group storage
        root = content_dir(self.data_dir, self.row)
        if not root.is_dir():  # a git dataset not synced yet
            raise Refused(404, {"path": "Files: none yet (the repository is cloned at its first sync)"})
        uid = await self.member_uid() if self.writable else None
        return TreeFiles(root, uid, hidden=(".git",) if self.row.kind == "git" else ())

    def root_name(self, group) -> str:
        return self.row.name

    async def quota_state(self, group) -> dict:
        """Not the group's storage: what the browser needs is whether the group may change these files."""
        return {"read_only": False, "reason": None, "writable": self.writable}

    async def refuse_when_read_only(self, group) -> None:
        if not self.writable:
            why = (f"a {self.row.kind} dataset's files change only by syncing it" if self.row.kind != "files"
                   else f"group {group.name} may only read dataset {self.row.name}")
            raise Refused(403, {"path": f"Path: {why}"})

    def activity(self, group: str, action: str, message: str) -> None:
        super().activity(group, action, f"Dataset {self.row.name}: {message}")


class DatasetRootFilesAPIHandler(_DatasetFiles, RootFilesAPIHandler):
    """GET: the root of a dataset's files (or ``?download=zip``)."""

    @needs_scope(READ)
    async def get(self, group_name, name):
        self.name = name
        await super().get(group_name)


class DatasetFilesAPIHandler(_DatasetFiles, FilesAPIHandler):
    """GET, POST ?op=mkdir|move, DELETE: a dataset's files (PUT: through the uploads API instead)."""

    @needs_scope(READ)
    async def get(self, group_name, name, path=""):
        self.name = name
        await super().get(group_name, path)

    @needs_scope(WRITE)
    async def post(self, group_name, name, path):
        """As the group's files: ``?op=mkdir``, or ``?op=move`` with a ``MoveBody``."""
        self.name = name
        await super().post(group_name, path)

    @needs_scope(WRITE)
    async def delete(self, group_name, name, path):
        """As the group's files (an empty body: ``NoFields``), where the group may write the dataset."""
        self.name = name
        await self.refuse_when_read_only(self.member_group(group_name))
        await super().delete(group_name, path)

    @needs_scope(WRITE)
    async def put(self, group_name, name, path):
        raise Refused(405, {"path": "Path: upload files into a dataset on its page (the uploads API, area "
                                    f"dataset:{name})"})


_DS = r"/api/portal/groups/([^/]+)/datasets/([^/]+)/files"
handlers = [
    (rf"{_DS}/", DatasetRootFilesAPIHandler),
    (rf"{_DS}/(.+)", DatasetFilesAPIHandler),
]
