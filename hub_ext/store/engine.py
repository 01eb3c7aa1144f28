"""Engines, sessions and schema upgrades for the portal database.

SQLite engines run with the driver's own transaction handling turned off, and a
transaction begins ``IMMEDIATE`` unless the caller asks otherwise through the
``sqlite_begin`` execution option: in WAL mode a deferred transaction that read
and then writes fails at once with "database is locked" when another process
wrote in between (the busy timeout does not apply to that upgrade), so every
write session takes the write lock up front and waits its turn. Reads of one
statement use ``read_scope``/``read_connection`` (no transaction at all).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from . import changes

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_engines: dict[str, Engine] = {}
_readers: dict[str, Engine] = {}
# execution option value for one-statement reads: no BEGIN/COMMIT round trip on SQLite
READ_ONLY = "AUTOCOMMIT"
_lock = threading.Lock()


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode == READ_ONLY:
            return  # a single read needs no transaction: SQLite reads a consistent snapshot
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def get_engine(url: str) -> Engine:
    """One engine per database URL in this process."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args={"timeout": 30})
                _sqlite_setup(engine)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)
            changes.watch(engine, url)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _factories.clear()
        _readers.clear()


_factories: dict[tuple, sessionmaker] = {}


def read_connection(url: str):
    """A Core connection for single-statement reads (no transaction round trip on SQLite)."""
    engine = _readers.get(url)
    if engine is None:
        engine = get_engine(url)
        if engine.dialect.name == "sqlite":
            engine = engine.execution_options(sqlite_begin=READ_ONLY)
        _readers[url] = engine
    return engine.connect()


def read_scope(url: str):
    """A session for reads of a single statement (page rendering): no transaction on SQLite."""
    return session_scope(url, sqlite_begin=READ_ONLY)


@contextmanager
def session_scope(url: str, **options) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    key = (url, tuple(sorted(options.items())))
    factory = _factories.get(key)
    if factory is None:
        engine = get_engine(url)
        if options:
            engine = engine.execution_options(**options)
        factory = _factories[key] = sessionmaker(engine, expire_on_commit=False)
    with factory() as session:
        with session.begin():
            yield session


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the portal schema to ``revision`` (idempotent; run at every start).

    Features add their tables in migrations that revise ``0001``, so there may
    be several heads until a merge revision joins them; "heads" applies all.
    """
    from alembic import command

    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        private_sqlite_files(url[len("sqlite:///"):].split("?", 1)[0])
    command.upgrade(alembic_config(url), revision)


SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def private_sqlite_files(path: str | Path) -> None:
    """The database file (and its -wal, -shm, -journal) 0600 before SQLite opens it.

    SQLite creates its companions with the main file's mode, so creating that
    one 0600 first covers them; ones an older version left are tightened. A
    missing directory is made 0700 (the isolation tightens the data dir to 0711
    at the hub's start). Nothing here follows a symbolic link.
    """
    import os

    path = Path(path)
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for suffix in SQLITE_COMPANIONS:
        name = f"{path}{suffix}"
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(name, flags | (os.O_CREAT if not suffix else 0), 0o600)
        except FileNotFoundError:
            continue
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)


def current_revision(url: str) -> str | None:
    """The applied revision(s), comma-separated when features sit on separate heads."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ",".join(sorted(heads)) or None
