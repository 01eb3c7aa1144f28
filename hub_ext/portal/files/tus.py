"""The uploads API: a tus 1.0 server (core, creation, termination) for a group's storage.

``POST …/groups/{group}/uploads`` creates an upload (``Upload-Length``,
``Upload-Metadata`` with ``path`` and optionally ``area``); the group's
storage quota is held for it right then, so a refused upload (413, the
message in JSON ``message`` and in ``Hubfront-Error``) never writes a byte.
``HEAD …/uploads/{id}`` says how much arrived, ``PATCH`` appends from that
offset (streamed to disk as it arrives: a 2 GiB body is never in memory),
``DELETE`` abandons it. Only the member who made an upload sees it (others: 404).
"""

from __future__ import annotations

import asyncio
import os
import re
import time

from jupyterhub.scopes import needs_scope
from tornado import web

from ...ledger import QuotaExceeded
from ...policy import format_memory
from ...scopes import WRITE
from ...storage import usage
from ...storage.uploads import (ID as UPLOAD_ID, MAX_SIZE, TUS_EXTENSIONS, TUS_VERSION, UploadError, UploadStore, area_root,
                                parse_count, parse_metadata, remove_stale, upload_target)
from .common import Refused, StorageAPIHandler
from .service import TreeFiles

OFFSET_TYPE = "application/offset+octet-stream"
DEFER_REFUSAL_BYTES = 16 << 20  # a refused PATCH body up to this size is read before the answer
SWEEP_EVERY = 600.0  # seconds between looks for stale uploads
_active: set[str] = set()  # uploads a PATCH is writing to right now (this process)
_last_sweep = [0.0]


class _TusBase(StorageAPIHandler):
    @property
    def uploads(self) -> UploadStore:
        return UploadStore(self.db_url, self.data_dir)

    def set_default_headers(self):
        super().set_default_headers()
        self.set_header("Tus-Resumable", TUS_VERSION)
        self.set_header("Cache-Control", "no-store")

    def tus_checks(self) -> None:
        """Missing or malformed ``Tus-Resumable``: 400; another version: 412 (with ``Tus-Version``)."""
        version = self.request.headers.get("Tus-Resumable")
        if version == TUS_VERSION:
            return
        if version is None or not re.fullmatch(r"[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}", version):
            raise Refused(400, {"Tus-Resumable": f"missing or not a version: send {TUS_VERSION}"})
        raise Refused(412, {"Tus-Resumable": f"must be {TUS_VERSION}"}, {"Tus-Version": TUS_VERSION})

    def options(self, *args):
        """Capabilities (no credentials needed, like any tus server)."""
        self.set_header("Tus-Version", TUS_VERSION)
        self.set_header("Tus-Extension", TUS_EXTENSIONS)
        self.set_header("Tus-Max-Size", str(MAX_SIZE))
        self.set_status(204)
        self.finish()

    async def sweep(self) -> None:
        """Remove uploads nobody touched for a day, releasing their quota holds (at most every 10 min)."""
        if time.monotonic() - _last_sweep[0] < SWEEP_EVERY:
            return
        _last_sweep[0] = time.monotonic()
        from ...ledger import Ledger

        gone = await asyncio.to_thread(remove_stale, self.uploads, Ledger(self.db_url))
        if gone:
            self.log.info("Removed %d stale upload(s)", len(gone))

    async def area_tree(self, group: str, area: str) -> TreeFiles:
        """The tree an upload to ``area`` goes under ("" the group's storage), for the caller."""
        if area == "":
            root = await self.group_root(group)
        else:
            try:
                root = await asyncio.to_thread(area_root, area, db_url=self.db_url, data_dir=self.data_dir,
                                               group=group, username=self.current_user.name)
            except UploadError as exc:
                raise Refused(exc.status, exc.errors) from None
            except PermissionError as exc:
                raise Refused(403, {"area": str(exc) or "not allowed"}) from None
            except LookupError as exc:
                raise Refused(404, {"area": str(exc) or "no such area"}) from None
        return TreeFiles(root, await self.member_uid())

    def upload_of(self, group_name: str, upload_id: str):
        """The caller's upload in the group, or 404."""
        self.member_group(group_name)
        row = self.uploads.get(upload_id)
        if row is None or row.group != group_name or row.username != self.current_user.name:
            raise web.HTTPError(404, "No such upload")
        return row


class UploadsAPIHandler(_TusBase):
    """POST /hub/api/portal/groups/{group}/uploads: create an upload (quota held here)."""

    @needs_scope(WRITE)
    async def post(self, group_name):
        group = self.member_group(group_name)
        self.tus_checks()
        try:
            if "Upload-Defer-Length" in self.request.headers:
                raise UploadError(400, {"Upload-Defer-Length": "not supported: send Upload-Length"})
            length = parse_count(self.request.headers.get("Upload-Length"), "Upload-Length")
            path, area = upload_target(parse_metadata(self.request.headers.get("Upload-Metadata")))
        except UploadError as exc:
            raise Refused(exc.status, exc.errors) from None
        tree = await self.area_tree(group.name, area)
        target = await self.storage(tree.check_file_target, path)
        await self.sweep()
        store = self.uploads
        upload_id = store.new_id()
        try:
            await self.storage_check(group, upload_id, length)
        except QuotaExceeded as exc:
            raise Refused(413, {"Upload-Length": exc.message}, {"Hubfront-Error": exc.message}) from None
        try:
            await asyncio.to_thread(store.create, upload_id=upload_id, group=group.name,
                                    username=self.current_user.name, target=target, area=area, length=length)
            if length == 0:
                await complete(self, store.get(upload_id))
        except BaseException:
            await self.release(upload_id)
            raise
        self.set_status(201)
        self.set_header("Location", f"{self.hub.base_url}api/portal/groups/{group.name}/uploads/{upload_id}")
        self.set_header("Upload-Offset", "0")
        self.finish()


async def complete(handler: _TusBase, row) -> dict:
    """The last byte arrived: the file into place, the member's; the hold released; an activity."""
    store = handler.uploads
    tree = await handler.area_tree(row.group, row.area)
    try:
        placed = await handler.storage(tree.place, store.part(row.id), row.target)
    finally:
        await asyncio.to_thread(store.remove, row.id)
        await handler.release(row.id)
        usage.invalidate(row.group)
    where = f" in {row.area}" if row.area else ""
    handler.activity(row.group, "upload", f"Uploaded {placed['path']}{where} ({format_memory(row.length)})")
    return placed


@web.stream_request_body
class UploadAPIHandler(_TusBase):
    """HEAD (offset), PATCH (append), DELETE (terminate): /hub/api/portal/groups/{group}/uploads/{id}."""

    _fd: int | None = None
    _row = None
    _start = 0
    _received = 0
    _overflow = False
    _patch_refused: web.HTTPError | None = None

    async def prepare(self):
        if self.request.method == "PATCH":
            self.request.connection.set_max_body_size(MAX_SIZE)
        await super().prepare()
        if self.request.method == "PATCH" and not self._finished:
            try:
                self._may_write(*self.path_args)
                self.begin_patch(*self.path_args)
            except web.HTTPError as exc:
                # Answering before the body is read closes the connection under the client (a proxy
                # in between turns that into a 503): a small body is read (and dropped) first.
                length = self.request.headers.get("Content-Length", "")
                if not (length.isdigit() and int(length) <= DEFER_REFUSAL_BYTES):
                    raise
                self._patch_refused = exc

    def options(self, group_name, upload_id):
        if not UPLOAD_ID.match(upload_id):
            raise web.HTTPError(404, "No such upload")
        super().options()

    @needs_scope(WRITE)
    def _may_write(self, group_name, upload_id):
        return True

    def begin_patch(self, group_name, upload_id) -> None:
        """Before any byte is read: the checks tus wants, then the part file opened at its end."""
        row = self.upload_of(group_name, upload_id)
        self.tus_checks()
        kind = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != OFFSET_TYPE:
            raise Refused(415, {"Content-Type": f"must be {OFFSET_TYPE}"})
        try:
            offset = parse_count(self.request.headers.get("Upload-Offset"), "Upload-Offset")
        except UploadError as exc:
            raise Refused(exc.status, exc.errors) from None
        if upload_id in _active:
            raise Refused(409, {"Upload-Offset": "another request is writing to this upload"})
        actual = self.uploads.offset(upload_id)
        if offset != actual:
            raise Refused(409, {"Upload-Offset": f"is {offset}, but {actual} bytes have arrived"},
                          {"Upload-Offset": str(actual)})
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and actual + int(length) > row.length:
            raise Refused(400, {"Content-Length": f"more than the {row.length - actual} bytes still expected"})
        try:
            self._fd = os.open(self.uploads.part(upload_id), os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:  # completed or terminated meanwhile: its bytes are gone
            raise web.HTTPError(404, "No such upload") from None
        self._row, self._start = row, actual
        _active.add(upload_id)

    def data_received(self, chunk: bytes) -> None:
        if self._fd is None or self._overflow:
            return
        if self._start + self._received + len(chunk) > self._row.length:
            self._overflow = True
            return
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view):]
        self._received += len(chunk)

    def _close(self, keep: bool = True) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if not keep:
                os.ftruncate(fd, self._start)
            os.fsync(fd)
        finally:
            os.close(fd)
            _active.discard(self._row.id)

    def on_connection_close(self):
        """The client went away mid-body: keep what arrived, resumable from there."""
        if self._fd is not None:
            self._close()
            self.uploads.touch(self._row.id)
        super().on_connection_close()

    async def patch(self, group_name, upload_id):
        if self._patch_refused is not None:
            raise self._patch_refused
        row = self._row
        if self._overflow:
            self._close(keep=False)
            raise Refused(400, {"body": f"more than the {row.length - self._start} bytes still expected"})
        await asyncio.to_thread(self._close)
        offset = self._start + self._received
        if offset < row.length:
            await asyncio.to_thread(self.uploads.touch, row.id)
        else:
            await complete(self, row)
        self.set_header("Upload-Offset", str(offset))
        self.set_status(204)
        self.finish()

    def on_finish(self):
        self._close()
        super().on_finish()

    @needs_scope(WRITE)
    def head(self, group_name, upload_id):
        row = self.upload_of(group_name, upload_id)
        self.tus_checks()
        self.set_header("Upload-Offset", str(self.uploads.offset(row.id)))
        self.set_header("Upload-Length", str(row.length))
        self.set_status(200)
        self.finish()

    @needs_scope(WRITE)
    async def delete(self, group_name, upload_id):
        row = self.upload_of(group_name, upload_id)
        self.tus_checks()
        if row.id in _active:
            raise Refused(409, {"upload": "a request is writing to this upload"})
        await asyncio.to_thread(self.uploads.remove, row.id)
        await self.release(row.id)
        self.set_status(204)
        self.finish()


handlers = [
    (r"/api/portal/groups/([^/]+)/uploads", UploadsAPIHandler),
    (r"/api/portal/groups/([^/]+)/uploads/([^/]+)", UploadAPIHandler),
]
