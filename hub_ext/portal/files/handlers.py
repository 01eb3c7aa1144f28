"""The files API: a group's storage for its members (others: 404).

``GET …/files/{path}``: a folder's listing (with ``storage``: ``{read_only, reason}``, read-only while
the group is over its storage quota, see :mod:`hub_ext.storage.quota_guard`), a file's bytes (always a download),
``?download=zip`` a folder as a streamed zip, ``?preview=1`` a file's preview;
``PUT`` a whole file (small files; large ones go through the uploads API);
``DELETE`` a file or folder; ``POST ?op=mkdir`` / ``?op=move`` (body ``{"to"}``).
The root is ``…/files/``. Every change is an activity.
"""

from __future__ import annotations

import asyncio
import secrets

from jupyterhub.scopes import needs_scope
from pydantic import Field

from ...bodies import NoFields, Strict
from ...groups import group_policy
from ...ledger import QuotaExceeded
from ...policy import format_memory
from ...scopes import READ, WRITE
from ...storage import quota_guard, usage, zipstream
from .common import Refused, StorageAPIHandler
from .tus import handlers as _tus



class MoveBody(Strict):
    to: str = Field(min_length=1, max_length=4096, description="The new path, relative to the group's root")


class RootFilesAPIHandler(StorageAPIHandler):
    """GET /hub/api/portal/groups/{group}/files/: the root's listing (or ``?download=zip``)."""

    @needs_scope(READ)
    async def get(self, group_name, path=""):
        group = self.member_group(group_name)
        tree = await self.tree(group.name)
        kind, real = await self.storage(tree.kind, path)
        download = self.get_query_argument("download", None)
        if kind == "folder":
            if download is None:
                listing = await self.storage(tree.listing, real)
                return self.write_json({**listing, "storage": await self.quota_state(group)})
            if download != "zip":
                raise Refused(400, {"download": "a folder downloads as 'zip'"})
            return await zipstream.send_folder(self, tree.root, real, real.name if path else self.root_name(group))
        if self.get_query_argument("preview", "0") in ("1", "true"):
            return self.write_json(await self.storage(tree.preview, real))
        await self.send_file(tree, real)

    def root_name(self, group) -> str:
        """What the root is called (the name of its zip): the group's (a dataset's, for datasets)."""
        return group.name

    async def quota_state(self, group) -> dict:
        """``{read_only, reason}``: whether the quota guard made the group's storage read-only, and why
        (with ``used`` and ``limit`` then)."""
        if not await asyncio.to_thread(quota_guard.read_only, self.data_dir, group.name):
            return {"read_only": False, "reason": None}
        limit = group_policy(group).quota.storage or 0
        used = await asyncio.to_thread(usage.used, self.data_dir, group.name, self.db_url)
        if used <= limit:  # measured before the write that locked it
            usage.invalidate(group.name)
            used = await asyncio.to_thread(usage.used, self.data_dir, group.name, self.db_url)
        return {"read_only": True, "used": used, "limit": limit, "reason": quota_guard.reason(used, limit)}

    async def refuse_when_read_only(self, group) -> None:
        """403 with the reason while the group's storage is read-only (over its quota)."""
        state = await self.quota_state(group)
        if state["read_only"]:
            raise Refused(403, {"path": state["reason"]})

    async def send_file(self, tree, real) -> None:
        await zipstream.send_file(self, await self.storage(tree.open, real), real.name)


class FilesAPIHandler(RootFilesAPIHandler):
    """GET, PUT, DELETE, POST ?op=mkdir|move: /hub/api/portal/groups/{group}/files/{path}."""

    @needs_scope(WRITE)
    async def put(self, group_name, path):
        group = self.member_group(group_name)
        tree = await self.tree(group.name)
        await self.storage(tree.check_file_target, path)
        await self.refuse_when_read_only(group)
        data = self.request.body
        hold = f"put-{secrets.token_hex(12)}"
        try:
            await self.storage_check(group, hold, len(data))
        except QuotaExceeded as exc:
            raise Refused(413, {"body": exc.message}, {"Hubfront-Error": exc.message}) from None
        try:
            written = await self.storage(tree.write, path, data)
        finally:
            usage.invalidate(group.name)
            await self.release(hold)
        self.activity(group.name, "upload", f"Uploaded {written['path']} ({format_memory(len(data))})")
        self.set_status(201)
        self.write_json(written)

    @needs_scope(WRITE)
    async def delete(self, group_name, path):
        group = self.member_group(group_name)
        self.body(NoFields)
        tree = await self.tree(group.name)
        try:
            gone = await self.storage(tree.delete, path)
        finally:
            usage.invalidate(group.name)
        self.activity(group.name, "delete", f"Deleted {gone}")
        self.set_status(204)
        self.finish()

    @needs_scope(WRITE)
    async def post(self, group_name, path):
        group = self.member_group(group_name)
        op = self.get_query_argument("op", None)
        if op not in ("mkdir", "move"):
            raise Refused(400, {"op": "must be mkdir or move"})
        tree = await self.tree(group.name)
        await self.refuse_when_read_only(group)
        if op == "mkdir":
            self.body(NoFields)
            made = await self.storage(tree.mkdir, path, named="Name")
            self.activity(group.name, "mkdir", f"Created folder {made}")
            self.set_status(201)
            return self.write_json({"path": made, "type": "folder"})
        body = self.body(MoveBody)
        await self.storage(tree.kind, path)  # the source first: a missing one names "path"
        moved = await self.storage(tree.move, path, body.to, field="to")
        self.activity(group.name, "move", f"Moved {path.rstrip('/')} to {moved}")
        self.write_json({"path": moved, "from": path.rstrip("/")})


handlers = [
    (r"/api/portal/groups/([^/]+)/files/", RootFilesAPIHandler),
    (r"/api/portal/groups/([^/]+)/files/(.+)", FilesAPIHandler),
    *_tus,
]
