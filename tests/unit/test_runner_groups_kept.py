"""The runner asks the hub for its groups once, then again only when JupyterHub's group tables changed (told by
the hub's change stamps, hub_ext.store.changes) or the answer is KEPT_FOR seconds old: a membership removed
through the hub reaches the runner's next pass, a user's last activity (written on every request) does not
make it ask again."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert

from hub_ext.services import hubapi
from hub_ext.store import changes

META = MetaData()
Table("groups", META, Column("id", Integer, primary_key=True), Column("name", String))
Table("user_group_map", META, Column("user_id", Integer), Column("group_id", Integer))
Table("users", META, Column("id", Integer, primary_key=True), Column("last_activity", String))


@pytest.fixture
def hub_db(tmp_path):
    url = f"sqlite:///{tmp_path}/jupyterhub.sqlite"
    engine = create_engine(url)
    META.create_all(engine)
    changes.watch(engine, url)  # what the hub does to its own database at start (portal.watch_hub_database)
    return url, engine


def _hub_writes(url: str, table: str) -> None:
    """A write by the hub's process (another process than the runner's)."""
    code = textwrap.dedent("""
        import sys
        from sqlalchemy import MetaData, Table, create_engine, insert
        from hub_ext.store import changes
        url, table = sys.argv[1:]
        engine = create_engine(url)
        changes.watch(engine, url)
        with engine.begin() as conn:
            conn.execute(insert(Table(table, MetaData(), autoload_with=conn)).values())
    """)
    subprocess.run([sys.executable, "-c", code, url, table], check=True, timeout=60)


def _runner_api(url: str, asked: list) -> hubapi.HubAPI:
    api = hubapi.HubAPI(api_url="http://127.0.0.1:1/hub/api", token="t", hub_changes=str(changes.path_for(url)))

    async def all_groups():
        asked.append(1)
        return {"lab": object()}, {"lab": frozenset({"ann"} if len(asked) == 1 else set())}

    api._all_groups = all_groups
    return api


def test_groups_are_asked_again_once_a_membership_changed(hub_db):
    url, engine = hub_db
    asked = []
    api = _runner_api(url, asked)
    first = asyncio.run(api.groups())
    assert asyncio.run(api.groups()).members == first.members and len(asked) == 1
    _hub_writes(url, "users")  # last activity: not what groups are made of
    asyncio.run(api.groups())
    assert len(asked) == 1
    _hub_writes(url, "user_group_map")  # ann left lab
    assert asyncio.run(api.groups()).members["lab"] == frozenset() and len(asked) == 2
    with engine.begin() as conn:  # a group made in this process's engine counts the same
        conn.execute(insert(META.tables["groups"]).values(name="new"))
    asyncio.run(api.groups())
    assert len(asked) == 3


def test_groups_are_asked_again_when_old_or_when_there_are_no_stamps(hub_db, monkeypatch):
    url, _ = hub_db
    asked = []
    api = _runner_api(url, asked)
    monkeypatch.setattr(hubapi, "KEPT_FOR", 0.2)
    asyncio.run(api.groups())
    asyncio.run(asyncio.sleep(0.25))
    asyncio.run(api.groups())
    assert len(asked) == 2
    plain, asked_plain = hubapi.HubAPI(api_url="http://127.0.0.1:1/hub/api", token="t"), []

    async def all_groups():
        asked_plain.append(1)
        return {}, {}

    plain._all_groups = all_groups
    asyncio.run(plain.groups())
    asyncio.run(plain.groups())
    assert len(asked_plain) == 2  # no stamps told: every pass asks
