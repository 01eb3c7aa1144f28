"""Resumable uploads (the tus 1.0 protocol: core, creation, termination), the part without HTTP.

An upload is created with its length and destination (``path`` in an
*area*: "" is the group's storage, ``dataset:<name>`` a files dataset's
tree); its bytes are held against the group's storage quota in the ledger
from then on, before any byte arrives. The bytes go to
``<data>/uploads/<id>.part`` (hub only); the offset is that file's size, so a
dropped connection loses nothing that reached the disk. When the last byte
arrives the file is moved into place (missing folders made), handed to the
uploader's account, the hold released. Uploads nobody touched for
``STALE_AFTER`` are removed with their holds.

Areas are pluggable: ``register_area("dataset", resolver)``, where
``resolver(db_url, data_dir, group, username, name) -> Path`` is the tree to
write under, raising PermissionError (403) or LookupError (404).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..store import get_engine
from ..store.models import utcnow
from ..store.models_storage import Upload
from ..isolation import fdtree, safefs
from .paths import BadPath, clean

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination"
MAX_SIZE = 1 << 40  # what one upload may declare (the storage quota is the real limit)
STALE_AFTER = timedelta(days=1)
UPLOADS = "uploads"
ID = re.compile(r"^[0-9a-f]{32}$")

Resolver = Callable[[str, str, str, str, str], Path]
_areas: dict[str, Resolver] = {}


class UploadError(ValueError):
    """A tus request refused: ``status`` and ``errors`` (field -> message) for the answer."""

    def __init__(self, status: int, errors: dict[str, str]):
        self.status, self.errors = status, errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def register_area(prefix: str, resolver: Resolver) -> None:
    """Let uploads go to ``<prefix>:<name>`` areas, whose trees ``resolver`` finds (and checks access to)."""
    if not re.fullmatch(r"[a-z][a-z0-9-]*", prefix):
        raise ValueError(f"bad area prefix {prefix!r}")
    _areas[prefix] = resolver


def area_root(area: str, *, db_url: str, data_dir, group: str, username: str) -> Path:
    """The tree of the area ``<prefix>:<name>`` (the group's own storage, "", is the caller's business)."""
    prefix, _, name = area.partition(":")
    resolver = _areas.get(prefix)
    if resolver is None or not name:
        raise UploadError(400, {"area": f"unknown area {area!r} (use \"\" or one of: "
                                        f"{', '.join(p + ':<name>' for p in sorted(_areas)) or 'none'})"})
    return Path(resolver(db_url, str(data_dir), group, username, name))


# -- request headers -------------------------------------------------------------------------


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (a value may be absent)."""
    meta: dict[str, str] = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        if not key or " " in value.strip() or key in meta:
            raise UploadError(400, {"Upload-Metadata": "must be comma-separated 'key base64value' pairs"})
        try:
            meta[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise UploadError(400, {"Upload-Metadata": f"the value of {key!r} is not base64 of UTF-8 text"}) from None
    return meta


def parse_count(value: str | None, header: str, *, high: int = MAX_SIZE) -> int:
    """A non-negative whole number from a header, naming it when it is not one."""
    if value is None:
        raise UploadError(400, {header: "missing"})
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        raise UploadError(400, {header: "must be a whole number of bytes"})
    number = int(value)
    if number > high:
        raise UploadError(413, {header: f"larger than the most an upload may be ({high} bytes)"})
    return number


def upload_target(meta: dict[str, str]) -> tuple[str, str]:
    """``(path, area)`` from the metadata; the path clean and not the root (other keys are the client's)."""
    try:
        path = clean(meta.get("path", ""))
    except BadPath as exc:
        raise UploadError(400, {"path": str(exc)}) from None
    if not path:
        raise UploadError(400, {"path": "missing: the file's path in the folder (Upload-Metadata 'path')"})
    return path, meta.get("area", "")


# -- records ---------------------------------------------------------------------------------


class UploadStore:
    """Uploads in progress: rows in the portal DB, bytes in ``<data>/uploads/<id>.part``."""

    def __init__(self, db_url: str, data_dir):
        self.db_url = db_url
        self.dir = Path(data_dir) / UPLOADS

    def part(self, upload_id: str) -> Path:
        return self.dir / f"{upload_id}.part"

    def offset(self, upload_id: str) -> int:
        try:
            return self.part(upload_id).stat().st_size
        except FileNotFoundError:
            return 0

    def create(self, *, upload_id: str, group: str, username: str, target: str, area: str, length: int) -> Upload:
        safefs.ensure_dir(self.dir, 0o700)  # the hub's alone
        fd = os.open(self.part(upload_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        row = Upload(id=upload_id, group=group, username=username, target=target, area=area, length=length)
        with Session(get_engine(self.db_url)) as session, session.begin():
            session.add(row)
        return row

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(16)

    def get(self, upload_id: str) -> Upload | None:
        if not ID.match(upload_id or ""):
            return None
        with Session(get_engine(self.db_url), expire_on_commit=False) as session:
            return session.get(Upload, upload_id)

    # One write statement each, no read first: on SQLite a transaction that read and then writes
    # cannot wait for the write lock ("database is locked" at once while parallel uploads write).
    def touch(self, upload_id: str) -> None:
        with Session(get_engine(self.db_url)) as session, session.begin():
            session.execute(update(Upload).where(Upload.id == upload_id)
                            .values(offset=self.offset(upload_id), updated=utcnow()))

    def remove(self, upload_id: str) -> None:
        """Forget the upload and its bytes (after completion or termination)."""
        with Session(get_engine(self.db_url)) as session, session.begin():
            session.execute(delete(Upload).where(Upload.id == upload_id))
        fdtree.remove_path(self.part(upload_id))

    def stale(self, now=None) -> list[Upload]:
        cutoff = (now or utcnow()) - STALE_AFTER
        with Session(get_engine(self.db_url), expire_on_commit=False) as session:
            return list(session.scalars(select(Upload).where(Upload.updated < cutoff)))


def remove_stale(store: UploadStore, ledger, now=None) -> list[str]:
    """Remove uploads untouched for STALE_AFTER, their bytes and their quota holds; their ids."""
    gone = []
    for row in store.stale(now):
        store.remove(row.id)
        ledger.release_storage(row.id)
        gone.append(row.id)
    return gone
