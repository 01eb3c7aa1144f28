"""Change stamps (hub_ext.store.changes) and the page parts kept by them (hub_ext.portal.common.fragments):
a part is used again only while no process changed a table it read, and never past its age."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text

from hub_ext.portal.common.fragments import XSRF, FragmentCache, with_xsrf
from hub_ext.store import changes
from hub_ext.store.engine import get_engine, read_connection, session_scope

META = MetaData()
NOTES = Table("stamp_notes", META, Column("id", Integer, primary_key=True), Column("owner", String))
TAGS = Table("stamp_tags", META, Column("id", Integer, primary_key=True), Column("note_id", Integer))
OTHER = Table("stamp_other", META, Column("id", Integer, primary_key=True))


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path}/stamps.sqlite"
    META.create_all(get_engine(url))
    assert len({changes.slot(t.name) for t in (NOTES, TAGS, OTHER)}) == 3  # the test's tables share no slot
    return url


def _write_elsewhere(url: str, table: str, raw: str = "") -> None:
    """A write by another process (as the runner's are): a row into ``table``, or the ``raw`` SQL."""
    code = textwrap.dedent("""
        import sys
        from sqlalchemy import MetaData, Table, insert
        from hub_ext.store.engine import get_engine
        url, table, raw = sys.argv[1:]
        engine = get_engine(url)
        with engine.begin() as conn:
            if raw:
                conn.exec_driver_sql(raw)
            else:
                conn.execute(insert(Table(table, MetaData(), autoload_with=conn)).values())
    """)
    subprocess.run([sys.executable, "-c", code, url, table, raw], check=True, timeout=60)


def _count(url, table):
    with read_connection(url) as db:
        return db.scalar(select(func.count()).select_from(table))


def test_a_recording_names_the_tables_read_and_a_raw_read_makes_it_unusable(url):
    with changes.recording() as read:
        with read_connection(url) as db:
            inner = select(TAGS.c.note_id).where(TAGS.c.id > 0).subquery()
            db.execute(select(NOTES.c.owner).join(inner, inner.c.note_id == NOTES.c.id)).all()
    assert read == {"stamp_notes", "stamp_tags"}
    with changes.recording() as read:
        with session_scope(url) as s:
            s.execute(text("SELECT count(*) FROM stamp_notes"))
    assert changes.UNKNOWN in read


def test_a_write_changes_its_tables_stamp_only_and_a_raw_write_changes_every_stamp(url):
    shared = changes.stamps(url)
    notes, other = shared.offsets(["stamp_notes"]), shared.offsets(["stamp_other"])
    before_notes, before_other = shared.of(notes), shared.of(other)
    with session_scope(url) as s:
        s.execute(insert(NOTES).values(owner="ann"))
    assert shared.of(notes) != before_notes and shared.of(other) == before_other
    before_notes, before_other = shared.of(notes), shared.of(other)
    with get_engine(url).begin() as conn:
        conn.exec_driver_sql("DELETE FROM stamp_tags")
    assert shared.of(notes) != before_notes and shared.of(other) != before_other  # nobody knows what it touched


def test_a_kept_part_is_used_until_another_process_changes_what_it_read(url):
    cache, builds = FragmentCache(), []

    async def build():
        builds.append(1)
        return f"<p>{_count(url, NOTES)} notes</p>"

    look = lambda: asyncio.run(cache.get(url, ("notes", "ann"), build))  # noqa: E731
    assert look() == "<p>0 notes</p>" and look() == "<p>0 notes</p>" and len(builds) == 1
    _write_elsewhere(url, "stamp_other")  # a table it did not read
    assert look() == "<p>0 notes</p>" and len(builds) == 1
    _write_elsewhere(url, "stamp_notes")
    assert look() == "<p>1 notes</p>" and len(builds) == 2
    _write_elsewhere(url, "", raw="UPDATE stamp_other SET id = id")  # raw SQL: every stamp changes
    look()
    assert len(builds) == 3
    with session_scope(url) as s:  # by this process, through the ORM session
        s.execute(insert(NOTES).values(owner="bo"))
    assert look() == "<p>2 notes</p>" and len(builds) == 4


def test_a_part_is_never_older_than_its_age_nor_kept_when_its_reads_are_unknown(url):
    cache, builds = FragmentCache(max_age=0.3), []

    async def build():
        builds.append(1)
        return "<p>time</p>"

    asyncio.run(cache.get(url, "aged", build))
    asyncio.run(cache.get(url, "aged", build))
    assert len(builds) == 1
    asyncio.run(asyncio.sleep(0.35))
    asyncio.run(cache.get(url, "aged", build))
    assert len(builds) == 2

    async def raw():
        builds.append(1)
        with session_scope(url) as s:
            return str(s.execute(text("SELECT count(*) FROM stamp_notes")).scalar())

    asyncio.run(cache.get(url, "raw", raw))
    asyncio.run(cache.get(url, "raw", raw))
    assert len(builds) == 4


def test_without_a_shared_file_nothing_is_kept(tmp_path):
    url = "sqlite://"  # in memory: no file beside it
    META.create_all(get_engine(url))
    cache, builds = FragmentCache(), []

    async def build():
        builds.append(1)
        return "x"

    asyncio.run(cache.get(url, "k", build))
    asyncio.run(cache.get(url, "k", build))
    assert changes.stamps(url) is None and len(builds) == 2


def test_the_stamps_file_is_not_followed_through_a_link(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    db = tmp_path / "linked.sqlite"
    os.symlink(target, f"{db}-changes")
    assert changes.stamps(f"sqlite:///{db}") is None
    assert target.read_bytes() == b""  # untouched


def test_a_forms_token_is_put_in_on_every_use():
    class Handler:
        xsrf_token = b"token-of-this-request"

    html = f'<input name="_xsrf" value="{XSRF}">'
    assert with_xsrf(html, Handler()) == '<input name="_xsrf" value="token-of-this-request">'
    assert with_xsrf("<p>no form</p>", Handler()) == "<p>no form</p>"


def test_a_part_holding_kept_parts_depends_on_what_they_read_and_is_as_old_as_the_oldest(url):
    cache, builds = FragmentCache(max_age=2.0), []

    class Handler:
        xsrf_token = b"token-of-this-request"

    async def inner():
        builds.append("inner")
        return f'<p>{_count(url, NOTES)} notes</p><input name="_xsrf" value="{XSRF}">'

    async def outer():
        builds.append("outer")
        held = with_xsrf(await cache.get(url, "inner", inner), Handler())  # as a panel puts it in a page
        return f"<div>{_count(url, TAGS)} tags {held}</div>"

    look = lambda: with_xsrf(asyncio.run(cache.get(url, "outer", outer)), Handler())  # noqa: E731
    asyncio.run(cache.get(url, "inner", inner))  # the inner part was kept first, on a look of its own
    first = look()
    assert first == '<div>0 tags <p>0 notes</p><input name="_xsrf" value="token-of-this-request"></div>'
    assert look() == first and builds == ["inner", "outer"]  # the inner part kept its token's place for it
    _write_elsewhere(url, "stamp_notes")  # read by the inner part only, which was kept when the outer was built
    assert "1 notes" in look() and builds == ["inner", "outer", "outer", "inner"]
    cache.clear()
    asyncio.run(cache.get(url, "inner", inner))
    asyncio.run(asyncio.sleep(1.2))
    look()  # built now, holding an inner part 1.2 s old
    assert builds[-2:] == ["inner", "outer"]
    asyncio.run(asyncio.sleep(1.0))  # the outer part is 1 s old, the one it holds 2.2 s: both are built again
    look()
    assert builds[-2:] == ["outer", "inner"]
