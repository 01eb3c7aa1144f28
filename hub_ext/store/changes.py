"""What changed in the portal database, told to every process that shares it (the hub, the runner).

A page part that is costly to build (a home panel) is kept with the *stamps* of the tables it read and is
used again only while those stamps are unchanged. The stamps live in a small shared file beside the
database (``<database>-changes`` for SQLite; ``portal-changes-*`` in ``Hubfront.data_dir`` otherwise: the hub
and the runner share that folder on Kubernetes too): one 8-byte slot per table (by a hash of its name), mapped
into memory, so reading them costs a microsecond and no database round trip.

Nothing has to remember to say what it changed: every engine of :func:`hub_ext.store.engine.get_engine` is
watched. An INSERT, UPDATE or DELETE notes its table on the connection; the slots are written when the
transaction commits and again when the connection goes back to its pool (after the commit, so a reader
that read a stamp before the commit sees it change). A statement whose table cannot be known (raw SQL)
changes every stamp. While :func:`recording` is on, the tables each SELECT reads are collected; a raw
read makes the collection unusable (``UNKNOWN``), so what it built is never kept.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import threading
import time
import zlib
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Iterable, Iterator

from sqlalchemy import Engine, Table, event
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.util import find_tables

log = logging.getLogger(__name__)

SLOTS = 1024
ANY = "*"  # a change to a table not known: every stamp depends on it
UNKNOWN = "?"  # a read of a table not known: what was built from it is not kept
_SLOT = struct.Struct("<Q")
_DML = ("INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "TRUNCATE")
_READS = ("SELECT", "WITH")
_recording: ContextVar[set | None] = ContextVar("hubfront_changes_recording", default=None)
_files: dict[str, "Stamps | None"] = {}
_lock = threading.Lock()


def slot(table: str) -> int:
    return 0 if table == ANY else 1 + zlib.crc32(table.encode()) % (SLOTS - 1)


class Stamps:
    """The shared slots of one database."""

    def __init__(self, path: Path):
        # the hub's account alone, as the data dir's other files
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            if os.fstat(fd).st_size < SLOTS * _SLOT.size:
                os.ftruncate(fd, SLOTS * _SLOT.size)
            self._map = mmap.mmap(fd, SLOTS * _SLOT.size)
        finally:
            os.close(fd)

    def bump(self, tables: Iterable[str]) -> None:
        now = time.monotonic_ns() ^ (os.getpid() << 40)  # unique to this write: readers compare for equality
        for index in {slot(t) for t in tables}:
            _SLOT.pack_into(self._map, index * _SLOT.size, now)
            now += 1

    def snapshot(self) -> bytes:
        """Every slot as it is now (take it before reading the data)."""
        return self._map[:]

    @staticmethod
    def offsets(tables: Iterable[str]) -> tuple[int, ...]:
        """Where the stamps of ``tables`` (and the any-table stamp) are."""
        return tuple(i * _SLOT.size for i in sorted({0, *map(slot, tables)}))

    def of(self, offsets: tuple[int, ...], snapshot: bytes | None = None) -> tuple[int, ...]:
        """The stamps at ``offsets``, from ``snapshot`` or as they are now."""
        source, unpack = self._map if snapshot is None else snapshot, _SLOT.unpack_from
        return tuple(unpack(source, offset)[0] for offset in offsets)


_places: dict[str, str] = {}


def place(url: str, data_dir: str) -> None:
    """Where the stamps of a database that is not a file go: the data folder the hub and the runner share."""
    with _lock:
        _places[url] = data_dir
        if _files.get(url, False) is None:
            del _files[url]  # looked for before it was known: look again


def path_for(url: str) -> Path | None:
    if url.startswith("sqlite:///") and ":memory:" not in url and "mode=memory" not in url:
        return Path(url[len("sqlite:///"):].split("?", 1)[0] + "-changes")
    if url.startswith("sqlite"):
        return None
    data_dir = _places.get(url)
    return Path(data_dir) / f"portal-changes-{zlib.crc32(url.encode()):08x}" if data_dir else None


def stamps_at(path: str) -> Stamps | None:
    """The stamps of a database this process does not open, at ``path`` (the hub's own, told to the runner)."""
    key = f"file:{path}"
    with _lock:
        if key not in _files:
            try:
                _files[key] = Stamps(Path(path))
            except OSError as exc:
                log.warning("No shared change stamps at %s (%s)", path, exc)
                _files[key] = None
        return _files[key]


def stamps(url: str) -> Stamps | None:
    """The database's shared stamps, or None where there is no place for them (nothing is kept then)."""
    try:
        return _files[url]
    except KeyError:
        pass
    with _lock:
        if url not in _files:
            path, found = path_for(url), None
            if path is not None:
                try:
                    found = Stamps(path)
                except OSError as exc:
                    log.warning("No shared change stamps at %s (%s): page parts are built on every look", path, exc)
            _files[url] = found
        return _files[url]


@contextmanager
def recording() -> Iterator[set]:
    """Collect the tables that the statements run inside read (the set is filled as they run)."""
    seen: set = set()
    token = _recording.set(seen)
    try:
        yield seen
    finally:
        _recording.reset(token)


def note_reads(tables: Iterable[str]) -> None:
    """Add to the recording what a value kept for the request had read (it is not read again)."""
    seen = _recording.get()
    if seen is not None:
        seen.update(tables)


def watch(engine: Engine, url: str) -> None:
    """Tell the stamps of ``url`` every change made through ``engine``."""

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn, _cursor, statement, _parameters, context, _many):
        compiled = getattr(context, "compiled", None)
        element = getattr(compiled, "statement", None)
        if context is not None and (context.isinsert or context.isupdate or context.isdelete):
            table = getattr(element, "table", None)
            conn.info.setdefault("hf_changed", set()).add(getattr(table, "name", ANY))
            return
        if element is None or isinstance(element, TextClause):
            verb = statement.lstrip()[:8].upper()
            if verb.startswith(_DML):
                conn.info.setdefault("hf_changed", set()).add(ANY)
            elif verb.startswith(_READS) and (seen := _recording.get()) is not None:
                seen.add(UNKNOWN)
            return
        seen = _recording.get()
        if seen is not None:
            seen.update(t.name for t in find_tables(element) if isinstance(t, Table))

    def _tell(info) -> None:
        changed = info.get("hf_changed")
        if changed:
            shared = stamps(url)
            if shared is not None:
                shared.bump(changed)

    @event.listens_for(engine, "commit")
    def _commit(conn):
        _tell(conn.info)  # before the commit: a reader between here and the commit keeps nothing stale...

    @event.listens_for(engine.pool, "checkin")
    def _checkin(_dbapi_conn, record):
        if record is not None:
            _tell(record.info)  # ...because the slots change again once it is done
            record.info.pop("hf_changed", None)
