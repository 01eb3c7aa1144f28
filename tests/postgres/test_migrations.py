"""The portal schema migrates the same on SQLite and on PostgreSQL."""

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from hub_ext.store import upgrade
from hub_ext.store.engine import alembic_config, get_engine

EXPECTED = {"accounts", "group_context", "reservations", "jobs", "job_log_chunks", "job_artifacts",
            "job_schedules", "schedule_runs", "deployments", "deployment_revisions", "deployment_clients",
            "deployment_log_chunks", "storage_reservations", "uploads", "shares", "datasets",
            "dataset_grants", "dataset_versions", "folder_invitations", "image_builds", "image_build_log_chunks",
            "apps", "app_log_chunks", "login_throttle"}


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


def _job_row(**extra) -> dict:
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    return {"group": "g", "username": "u", "name": "n", "command": "true", "image": "base", "instance_type": "small",
            "env_encrypted": "", "timeout": 60, "created": now, "updated": now, **extra}


JOB = {"cpu": 1.0, "memory": 1, "gpu": 0, "phase": "Succeeded", "reason": "", "message": "", "cancel_requested": False,
       "delete_requested": False, "executor": "", "handle": "", "log_read": 0, "log_size": 0, "artifacts_note": ""}
SCHEDULE = {"recurrence": "daily", "time_zone": "UTC", "overlap": "skip"}


def _picks_migrate(url):
    """Jobs and schedules of 0007 get ``datasets = '[]'`` from 0008, and the column goes again on a downgrade."""
    upgrade(url, "0007")  # a fresh database
    command.downgrade(alembic_config(url), "0007")  # one already at the head
    engine = get_engine(url)
    assert "datasets" not in {c["name"] for c in sa.inspect(engine).get_columns("jobs")}
    with engine.begin() as conn:
        meta = sa.MetaData()
        conn.execute(sa.Table("jobs", meta, autoload_with=conn).insert(), [_job_row(**JOB)])
        conn.execute(sa.Table("job_schedules", meta, autoload_with=conn).insert(), [_job_row(**SCHEDULE)])
    upgrade(url)
    with engine.begin() as conn:
        for table in ("jobs", "job_schedules"):
            assert conn.execute(sa.text(f"select datasets from {table}")).scalars().all() == ["[]"]
        conn.execute(sa.text("insert into job_schedules (\"group\", username, name, command, image, instance_type, "
                             "env_encrypted, timeout, recurrence, time_zone, overlap, created, updated) "
                             "select \"group\", username, name, command, image, instance_type, env_encrypted, "
                             "timeout, recurrence, time_zone, overlap, created, updated from job_schedules"))
        assert conn.execute(sa.text("select datasets from job_schedules")).scalars().all() == ["[]", "[]"]
    command.downgrade(alembic_config(url), "0007")
    assert "datasets" not in {c["name"] for c in sa.inspect(get_engine(url)).get_columns("jobs")}
    upgrade(url)
    for table in ("jobs", "job_schedules"):
        column = {c["name"]: c for c in sa.inspect(get_engine(url)).get_columns(table)}["datasets"]
        assert column["nullable"] is False and "[]" in str(column["default"])


def test_dataset_picks_column_migrates_on_sqlite(tmp_path):
    _picks_migrate(f"sqlite:///{tmp_path / 'picks.sqlite'}")


@pytest.mark.postgres
def test_dataset_picks_column_migrates_on_postgres(pg_url):
    _picks_migrate(pg_url)
