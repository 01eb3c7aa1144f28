"""The portal schema migrates the same on SQLite and on PostgreSQL."""

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from hub_ext.store import upgrade
from hub_ext.store.engine import alembic_config, get_engine

EXPECTED = {"accounts", "group_context", "reservations", "jobs", "job_log_chunks", "job_artifacts",
            "job_schedules", "schedule_runs", "deployments", "deployment_revisions", "deployment_clients",
            "deployment_log_chunks", "storage_reservations", "uploads", "shares", "datasets",
            "dataset_grants", "dataset_versions", "folder_invitations"}


def _state(url):
    inspector = sa.inspect(get_engine(url))
    with get_engine(url).connect() as conn:
        versions = {r[0] for r in conn.execute(sa.text("select version_num from alembic_version"))}
    return set(inspector.get_table_names()), versions


def _heads(url):
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def test_sqlite_migrates_to_every_head_idempotently(sqlite_url):
    upgrade(sqlite_url)  # a second run changes nothing
    tables, versions = _state(sqlite_url)
    assert EXPECTED <= tables
    assert versions == _heads(sqlite_url)


@pytest.mark.postgres
def test_postgres_migrates_to_the_same_schema_as_sqlite(pg_url, sqlite_url):
    upgrade(pg_url)
    tables, versions = _state(pg_url)
    assert EXPECTED <= tables
    assert versions == _heads(pg_url)
    assert tables == _state(sqlite_url)[0]
