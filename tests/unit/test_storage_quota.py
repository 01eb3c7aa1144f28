"""The group's storage quota: the policy value, measured usage, and the ledger's upload holds.

The ledger part runs on SQLite and on the real PostgreSQL server (skipped
visibly without one, failing under CI like the other PostgreSQL tests).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from hub_ext.ledger import Ledger, QuotaExceeded
from hub_ext.policy import PolicyError, parse_policy, policy_of
from hub_ext.storage import usage
from hub_ext.storage.tree import group_root

GiB, MiB = 2**30, 2**20


def test_storage_quota_is_a_memory_quantity_of_the_group_only():
    assert parse_policy({"quota": {"storage": "50Gi"}}).quota.storage == 50 * GiB
    assert parse_policy({}).quota.storage is None  # missing: unlimited
    with pytest.raises(PolicyError) as exc:
        parse_policy({"quota": {"storage": "lots"}})
    assert "quota.storage" in exc.value.errors
    with pytest.raises(PolicyError) as exc:
        parse_policy({"user_quota": {"storage": "1Gi"}})
    assert "group" in exc.value.errors["user_quota"]
    # a stored policy that no longer validates is read as the most restrictive: no storage either
    assert policy_of({"hubfront": {"quota": {"storage": "lots"}}}).quota.storage == 0


def test_usage_is_measured_cached_and_invalidated(tmp_path):
    root = group_root(tmp_path, "g-usage")
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "one").write_bytes(b"x" * 1000)
    (root / "a" / "b" / "two").write_bytes(b"y" * 24)
    os.link(root / "a" / "one", root / "hard-link")  # counted once
    (root / "link").symlink_to("/usr")  # never followed
    usage.invalidate("g-usage")
    assert usage.used(tmp_path, "g-usage") == 1024
    (root / "three").write_bytes(b"z" * 100)
    assert usage.used(tmp_path, "g-usage") == 1024  # cached
    usage.invalidate("g-usage")
    assert usage.used(tmp_path, "g-usage") == 1124
    assert usage.used(tmp_path, "no-such-group") == 0


def test_usage_counts_the_groups_files_datasets(tmp_path, sqlite_url):
    from hub_ext.store import get_engine
    from hub_ext.store.models_storage import Dataset
    from sqlalchemy.orm import Session

    with Session(get_engine(sqlite_url)) as session, session.begin():
        session.add(Dataset(name="images", group="g-ds", username="alice", kind="files"))
        session.add(Dataset(name="other", group="someone-else", username="bob", kind="files"))
    for name, size in (("images", 300), ("other", 5000)):
        (tmp_path / "datasets" / name / "current").mkdir(parents=True)
        (tmp_path / "datasets" / name / "current" / "f").write_bytes(b"d" * size)
    group_root(tmp_path, "g-ds").mkdir(parents=True)
    (group_root(tmp_path, "g-ds") / "f").write_bytes(b"g" * 10)
    usage.invalidate("g-ds")
    assert usage.used(tmp_path, "g-ds", sqlite_url) == 310


def _holds(ledger):
    limit = 50 * GiB
    used = int(49.5 * GiB)
    with pytest.raises(QuotaExceeded) as exc:
        ledger.reserve_storage("research", "u1", "alice", GiB, used, limit)
    assert exc.value.message == "Storage: used 49.5 GiB + upload 1 GiB > limit 50 GiB (group research)"
    assert ledger.storage_held("research") == 0
    # holds of uploads in progress count as used
    ledger.reserve_storage("research", "u2", "alice", 300 * MiB, used, limit)
    again = ledger.reserve_storage("research", "u2", "alice", 300 * MiB, used, limit)  # idempotent
    assert again.size == 300 * MiB and ledger.storage_held("research") == 300 * MiB
    with pytest.raises(QuotaExceeded, match=r"^Storage: used 49.8 GiB \+ upload 300 MiB > limit 50 GiB"):
        ledger.reserve_storage("research", "u3", "bob", 300 * MiB, used, limit)
    assert ledger.storage_held("other") == 0
    ledger.reserve_storage("research", "u4", "bob", 10 * GiB, used, None)  # unlimited
    assert ledger.release_storage("u2") and ledger.release_storage("u4")
    assert not ledger.release_storage("u2")
    assert ledger.storage_held("research") == 0


def _race(ledger):
    """20 uploads of 1 MiB race for 5 MiB of room: exactly 5 get it."""
    start = threading.Barrier(20)

    def attempt(i):
        start.wait()
        try:
            ledger.reserve_storage("race", f"r{i}", "alice", MiB, 5 * MiB, 10 * MiB)
            return True
        except QuotaExceeded:
            return False

    with ThreadPoolExecutor(20) as pool:
        assert sum(pool.map(attempt, range(20))) == 5
    assert ledger.storage_held("race") == 5 * MiB


def test_storage_holds_on_sqlite(sqlite_url):
    _holds(Ledger(sqlite_url))
    _race(Ledger(sqlite_url))


@pytest.mark.postgres
def test_storage_holds_on_postgres(pg_url):
    _holds(Ledger(pg_url))
    _race(Ledger(pg_url))


def test_a_tally_follows_writes_as_a_measurement_counts_them(tmp_path):
    """The quota guard's running count: a file's new size moves the total by the difference; hard links
    count once, as :func:`usage.walk` counts them."""
    (tmp_path / "a").write_bytes(b"x" * 100)
    os.link(tmp_path / "a", tmp_path / "a-again")
    sizes: dict = {}
    total, files = usage.walk(tmp_path, sizes=sizes)
    assert (total, files) == (100, 1) and list(sizes.values()) == [100]
    tally = usage.Tally(total, sizes)
    with open(tmp_path / "a", "ab") as f:
        f.write(b"y" * 50)
    assert tally.saw(os.lstat(tmp_path / "a-again")) == 150  # the same inode by its other name
    (tmp_path / "b").write_bytes(b"z" * 7)
    assert tally.saw(os.lstat(tmp_path / "b")) == 157
    os.truncate(tmp_path / "b", 2)
    assert tally.saw(os.lstat(tmp_path / "b")) == 152 == usage.measure(tmp_path)


def test_the_over_quota_reason_names_the_use_and_the_quota():
    from hub_ext.storage.quota_guard import reason

    assert reason(22 * MiB, 20 * MiB) == (
        "Storage over quota: used 22 MiB of 20 MiB; the group's storage is read-only until files are deleted")


def test_a_tree_without_the_flag_is_not_read_only(tmp_path):
    from hub_ext.storage.quota_guard import read_only

    group_root(tmp_path, "g").mkdir(parents=True)
    assert not read_only(tmp_path, "g") and not read_only(tmp_path, "missing")
