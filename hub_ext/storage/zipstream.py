"""Downloads from storage: a file streamed in chunks, a folder as a zip streamed as it is built
(stream-zip), never held in memory; both as attachments (never shown inline: the hub's origin serves
no user HTML). The files API and the share pages send through here.

The folder is walked by descriptors from one reached without following links
(:func:`hub_ext.storage.paths.dir_fd`, :func:`hub_ext.isolation.fdtree.iter_tree`);
symbolic links and special files are left out. Files are read and compressed on a thread, one
chunk at a time, and each chunk is flushed to the client before the next.
"""

from __future__ import annotations

import asyncio
import os
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from stream_zip import ZIP_64, stream_zip

from ..isolation import fdtree
from .paths import dir_fd

CHUNK = 1 << 20


def _file_chunks(fd: int) -> Iterator[bytes]:
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def members(top_fd: int) -> Iterator[tuple]:
    """stream-zip's members: every folder (as ``name/``) and regular file under ``top_fd``, walked by
    descriptors (:func:`hub_ext.isolation.fdtree.iter_tree`); links, special files and files with
    another account's name elsewhere (:func:`hub_ext.isolation.safefs.may_read`) are left out."""
    for fd, st, rel in fdtree.iter_tree(top_fd):
        when = datetime.fromtimestamp(st.st_mtime, timezone.utc)
        if stat.S_ISDIR(st.st_mode):
            yield rel + "/", when, stat.S_IFDIR | 0o755, ZIP_64, ()
            continue
        file_fd = fdtree.reopen_read(fd, st) if stat.S_ISREG(st.st_mode) else None
        if file_fd is not None:
            yield rel, when, stat.S_IFREG | 0o644, ZIP_64, _file_chunks(file_fd)


def zip_chunks(root: Path, real: Path) -> Iterator[bytes]:
    """The zip of the resolved folder ``real`` under ``root``, chunk by chunk."""
    with dir_fd(root, real) as fd:
        yield from stream_zip(members(fd), chunk_size=CHUNK)


def attachment(name: str) -> str:
    """A Content-Disposition that downloads as ``name`` (ASCII fallback and the UTF-8 name)."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name) or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def download_headers(handler, kind: str, name: str) -> None:
    """Headers of a download called ``name``: always an attachment, never sniffed into a page."""
    handler.set_header("Content-Type", kind)
    handler.set_header("Content-Disposition", attachment(name))
    handler.set_header("X-Content-Type-Options", "nosniff")


async def send_file(handler, fd: int, name: str) -> None:
    """Stream the open file ``fd`` (closed here) to the tornado ``handler`` as ``name``, then finish."""
    with os.fdopen(fd, "rb") as f:
        download_headers(handler, "application/octet-stream", name)
        handler.set_header("Content-Length", str(os.fstat(f.fileno()).st_size))
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            handler.write(chunk)
            await handler.flush()
    handler.finish()


async def send_folder(handler, root: Path, real: Path, name: str) -> None:
    """Write the zip of ``real`` (as ``<name>.zip``) to the tornado ``handler`` as it is made, then finish."""
    download_headers(handler, "application/zip", f"{name}.zip")
    chunks = zip_chunks(root, real)
    done = object()
    try:
        while (chunk := await asyncio.to_thread(next, chunks, done)) is not done:
            handler.write(chunk)
            await handler.flush()
    finally:
        chunks.close()
    handler.finish()
