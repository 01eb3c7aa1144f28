"""The 50-concurrent-spawn race on a MockHub whose portal DB is the real PostgreSQL."""

import pytest
from conftest_helpers import make_user
from spawn_rig import configure_spawner, fifty_concurrent_spawns
from support import create_pg_database, drop_pg_database, need, pg_available

pytestmark = pytest.mark.postgres
_databases: list[str] = []


def hub_config(cfg, data):
    need(*pg_available())
    url = create_pg_database()
    _databases.append(url)
    configure_spawner(cfg, data, db_url=url)


@pytest.fixture(scope="module", autouse=True)
def _drop_database():
    yield
    while _databases:
        drop_pg_database(_databases.pop())


async def test_fifty_concurrent_spawns_admit_exactly_the_quota_on_postgres(app):
    await fifty_concurrent_spawns(app, make_user, "pq")
