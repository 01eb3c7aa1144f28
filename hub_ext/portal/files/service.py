"""A storage tree's files as the files API sees them (no tornado here).

Every operation starts from the tree's root and a user path, confined by
:mod:`hub_ext.storage.paths`; the hub acts as root, so what it makes is handed
to the acting member's account (``uid``) and the folder's group, group
read-write, the way a workload of theirs would have made it. Listings leave
out symbolic links and special files.
"""

from __future__ import annotations

import base64
import csv
import io
import mimetypes
import os
import errno
import secrets
import stat
from datetime import datetime, timezone
from pathlib import Path

from ...isolation import fdtree, safefs
from ...isolation.fsflags import clear_for_removal
from ...isolation.shared import inherit_acl
from ...storage.paths import BadPath, clean, dir_fd, entry, make_dirs, open_file, parent_fd, relative, resolve, target

PREVIEW_BYTES = 64 * 1024  # text and CSV previews read this much
PREVIEW_ROWS = 50
IMAGE_INLINE_BYTES = 2 * 1024 * 1024  # images up to this size come as data: URLs
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/svg+xml"}
CSV_TYPES = {".csv": ",", ".tsv": "\t"}


class Conflict(Exception):
    """The operation does not fit what is on disk (exists already, a file where a folder is wanted)."""


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def entry_json(name: str, st: os.stat_result) -> dict | None:
    """``{name, type, size, mtime}``: type "folder" or "file"; None for links and special files."""
    if stat.S_ISDIR(st.st_mode):
        return {"name": name, "type": "folder", "size": None, "mtime": _time(st.st_mtime)}
    if stat.S_ISREG(st.st_mode):
        return {"name": name, "type": "file", "size": st.st_size, "mtime": _time(st.st_mtime)}
    return None


class TreeFiles:
    """The files of one tree (a group's storage, a dataset's), acted on for one member."""

    def __init__(self, root: Path, uid: int | None = None, hidden: tuple[str, ...] = ()):
        self.root = Path(root)
        self.uid = uid
        self.hidden = hidden  # names the root's listing leaves out (a git dataset's .git)

    # -- ownership -----------------------------------------------------------------------

    def _owner(self, dir_fd: int) -> tuple[int, int]:
        """(uid, gid) of what the member makes in the folder ``dir_fd``: theirs, the folder's group."""
        group = os.fstat(dir_fd).st_gid if os.geteuid() == 0 else -1
        return (self.uid if self.uid is not None else -1), group

    def own_fd(self, dir_fd: int, fd: int) -> None:
        """The file root has open as ``fd`` (made in the folder ``dir_fd``): the member's, group rw."""
        uid, gid = self._owner(dir_fd)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, 0o660)

    def _own_dir(self, fd: int, name: str) -> None:
        """A folder just made in ``fd``: the member's, the folder's group, 2770 (through its descriptor:
        a link swapped in meanwhile is never followed)."""
        safefs.chown_at(fd, name, *self._owner(fd), mode=0o2770)

    # -- reading -------------------------------------------------------------------------

    def kind(self, rel: str) -> tuple[str, Path]:
        """("folder" or "file", the resolved path); FileNotFoundError for anything else."""
        real = resolve(self.root, rel)
        st = os.stat(real)
        if stat.S_ISDIR(st.st_mode):
            return "folder", real
        if stat.S_ISREG(st.st_mode):
            return "file", real
        raise FileNotFoundError(rel)

    def listing(self, real: Path) -> dict:
        entries = []
        hidden = () if relative(self.root, real) else self.hidden
        with dir_fd(self.root, real) as fd, os.scandir(fd) as it:
            for item in it:
                try:
                    row = entry_json(item.name, item.stat(follow_symlinks=False))
                except OSError:
                    continue
                if row is not None and item.name not in hidden:
                    entries.append(row)
        entries.sort(key=lambda e: (e["type"] != "folder", e["name"].lower()))
        return {"path": relative(self.root, real), "entries": entries}

    def open(self, real: Path) -> int:
        """A read descriptor of the resolved file (the caller closes it); a file with another account's
        name elsewhere (a hard link a member made) is not served (:func:`hub_ext.isolation.safefs.may_read`)."""
        fd = open_file(self.root, real, os.O_RDONLY | os.O_NONBLOCK)
        if not safefs.may_read(os.fstat(fd)):
            os.close(fd)
            raise FileNotFoundError(real.name)
        return fd

    def preview(self, real: Path) -> dict:
        """``{kind: text|csv|image|binary, ...}`` of the resolved file's beginning."""
        fd = self.open(real)
        with os.fdopen(fd, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            mime = mimetypes.guess_type(real.name)[0] or "application/octet-stream"
            base = {"path": relative(self.root, real), "name": real.name, "size": size, "mime": mime}
            if mime in IMAGE_TYPES:
                if size > IMAGE_INLINE_BYTES:
                    return {**base, "kind": "image", "data": None}
                data = base64.b64encode(f.read(IMAGE_INLINE_BYTES)).decode()
                return {**base, "kind": "image", "data": f"data:{mime};base64,{data}"}
            head = f.read(PREVIEW_BYTES)
        truncated = size > len(head)
        text = _decode(head, truncated)
        if text is None:
            return {**base, "kind": "binary"}
        delimiter = CSV_TYPES.get(real.suffix.lower())
        if delimiter is not None:
            rows = list(_csv_rows(text, delimiter, truncated))
            return {**base, "kind": "csv", "header": rows[0] if rows else [], "rows": rows[1:PREVIEW_ROWS + 1],
                    "truncated": truncated or len(rows) > PREVIEW_ROWS + 1}
        return {**base, "kind": "text", "text": text, "truncated": truncated}

    # -- changing ------------------------------------------------------------------------

    def mkdir(self, rel: str) -> str:
        """Make the folder ``rel`` (and missing folders above it); Conflict if it exists."""
        real = target(self.root, rel)
        if real == Path(os.path.realpath(self.root)):
            raise Conflict("the root exists already")
        if os.path.lexists(real):
            raise Conflict(f"{clean(rel)} exists already")
        os.close(make_dirs(self.root, real, self._own_dir))
        return relative(self.root, real)

    def write(self, rel: str, data: bytes) -> dict:
        """Write a whole file (made or replaced at once: a temporary file renamed over it)."""
        real = self._file_target(rel)
        fd = make_dirs(self.root, real.parent, self._own_dir)
        try:
            temp = f".{real.name[:200]}.{secrets.token_hex(6)}.part"
            out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o660, dir_fd=fd)
            try:
                with os.fdopen(out, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                    self.own_fd(fd, f.fileno())
                fdtree.rename_at(fd, temp, fd, real.name)
            except BaseException:
                fdtree.unlink_at(fd, temp)
                raise
            return entry_json(real.name, os.stat(real.name, dir_fd=fd, follow_symlinks=False)) | {
                "path": relative(self.root, real)}
        finally:
            os.close(fd)

    def place(self, part: Path, rel: str) -> dict:
        """Move a finished upload (a file outside the tree) to ``rel``, making missing folders."""
        real = self._file_target(rel)
        fd = make_dirs(self.root, real.parent, self._own_dir)
        part = Path(part)
        uploads = safefs.open_dir(part.parent)  # the hub's own <data>/uploads
        try:
            src = os.open(part.name, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=uploads)
            try:
                self.own_fd(fd, src)  # handed over before it enters the tree
                try:
                    fdtree.rename_at(uploads, part.name, fd, real.name)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:  # uploads on another file system
                        raise
                    temp = f".{real.name[:200]}.{secrets.token_hex(6)}.part"
                    out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o660,
                                  dir_fd=fd)
                    try:
                        fdtree.copy_fd(src, out)
                        os.fsync(out)
                        self.own_fd(fd, out)
                    finally:
                        os.close(out)
                    fdtree.rename_at(fd, temp, fd, real.name)
                    fdtree.unlink_at(uploads, part.name)
            finally:
                os.close(src)
            inherit_acl(fd, real.name)
            return entry_json(real.name, os.stat(real.name, dir_fd=fd, follow_symlinks=False)) | {
                "path": relative(self.root, real)}
        finally:
            os.close(fd)
            os.close(uploads)

    def check_file_target(self, rel: str) -> str:
        """``rel`` could become a file (not the root, not a folder); its clean form."""
        return relative(self.root, self._file_target(rel))

    def _file_target(self, rel: str) -> Path:
        if not clean(rel):
            raise BadPath("must name a file, not the root")
        real = target(self.root, rel)
        if os.path.isdir(real):
            raise Conflict(f"{clean(rel)} is a folder")
        return real

    def move(self, rel: str, to: str) -> str:
        """Rename or move ``rel`` to ``to`` (in the same tree); Conflict if ``to`` exists."""
        src = entry(self.root, rel)
        dst = target(self.root, to)
        if dst == Path(os.path.realpath(self.root)) or os.path.lexists(dst):
            raise Conflict(f"{clean(to) or 'the root'} exists already")
        if dst == src or src in dst.parents:
            raise BadPath("cannot move a folder into itself")
        if not os.path.isdir(dst.parent):
            raise FileNotFoundError(clean(to).rpartition("/")[0])
        with parent_fd(self.root, src) as (sfd, sname), parent_fd(self.root, dst) as (dfd, dname):
            fdtree.rename_at(sfd, sname, dfd, dname)
        return relative(self.root, dst)

    def delete(self, rel: str) -> str:
        """Delete a file, link or folder (with everything in it)."""
        real = entry(self.root, rel)
        with parent_fd(self.root, real) as (fd, name):
            clear_for_removal(fd, name)  # a tree locked over its storage quota (hub_ext.storage.quota_guard)
            fdtree.remove_at(fd, name)
        return relative(self.root, real)


def _decode(head: bytes, truncated: bool) -> str | None:
    """The text of a file's beginning, or None when it is not text (a NUL, or not UTF-8)."""
    if b"\x00" in head:
        return None
    for cut in range(4 if truncated else 1):  # a multi-byte character cut at the end
        try:
            return head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _csv_rows(text: str, delimiter: str, truncated: bool):
    lines = text.splitlines()
    if truncated and lines:
        lines = lines[:-1]  # the last line may be cut
    try:
        yield from csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    except csv.Error:
        return
