"""The sign-in throttle on PostgreSQL: the same waits, and concurrent failures all counted."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from hub_ext.auth.throttle import LoginThrottle

pytestmark = pytest.mark.postgres


def test_waits_and_reset_on_postgres(pg_url):
    t = LoginThrottle(db_url=pg_url)
    waits = [t.record_failure("admin", "198.51.100.7") for _ in range(8)]
    assert waits[:5] == [0] * 5 and waits[5:] == pytest.approx([1, 2, 4], abs=0.01)
    assert 3 < t.check("admin", "198.51.100.7") <= 4 and t.check("admin", "203.0.113.5") == 0
    t.record_success("admin", "203.0.113.5")
    assert t.state("admin").failures == 0
    t.clear("admin")
    assert t.check("admin", "198.51.100.7") == 0


def test_concurrent_failures_of_a_new_account_are_each_counted(pg_url):
    t = LoginThrottle(db_url=pg_url)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: t.record_failure("fresh", f"10.0.0.{i % 2}"), range(16)))
    assert t.state("fresh").failures == 16
