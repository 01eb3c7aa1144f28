"""The hard lock share links' passwords use: consecutive failures per counter, in the portal database.

(Sign-ins are throttled instead: tests/unit/test_auth_throttle.py.)
"""

from datetime import timedelta

from hub_ext.auth import lockout
from hub_ext.store.engine import dispose_engines
from hub_ext.store.models import utcnow


def test_tenth_failure_locks_for_the_configured_time(sqlite_url):
    now = utcnow()
    for i in range(9):
        assert not lockout.record_failure(sqlite_url, "eve", 10, 15, now=now)
    assert lockout.locked_until(sqlite_url, "eve", now=now) is None
    assert lockout.record_failure(sqlite_url, "eve", 10, 15, now=now)
    until = lockout.locked_until(sqlite_url, "eve", now=now)
    assert until is not None and abs((until - now) - timedelta(minutes=15)) < timedelta(seconds=1)
    # still locked 14 minutes later, free after 15
    assert lockout.locked_until(sqlite_url, "eve", now=now + timedelta(minutes=14))
    assert lockout.locked_until(sqlite_url, "eve", now=now + timedelta(minutes=15, seconds=1)) is None


def test_count_survives_a_new_process_engine(sqlite_url):
    for _ in range(5):
        lockout.record_failure(sqlite_url, "fay", 10, 15)
    dispose_engines()  # as after a hub restart
    assert lockout.failures(sqlite_url, "fay") == 5


def test_success_resets(sqlite_url):
    for _ in range(9):
        lockout.record_failure(sqlite_url, "gil", 10, 15)
    lockout.record_success(sqlite_url, "gil")
    assert not lockout.record_failure(sqlite_url, "gil", 10, 15)  # counting starts again
    for _ in range(9):
        lockout.record_failure(sqlite_url, "gil", 10, 15)
    assert lockout.locked_until(sqlite_url, "gil")
    lockout.record_success(sqlite_url, "gil")
    assert lockout.locked_until(sqlite_url, "gil") is None
    assert lockout.failures(sqlite_url, "gil") == 0


def test_configurable_threshold_and_an_expired_lock_starts_fresh(sqlite_url):
    now = utcnow()
    assert not lockout.record_failure(sqlite_url, "hal", 3, 1, now=now)
    assert not lockout.record_failure(sqlite_url, "hal", 3, 1, now=now)
    assert lockout.record_failure(sqlite_url, "hal", 3, 1, now=now)
    later = now + timedelta(minutes=2)
    assert not lockout.record_failure(sqlite_url, "hal", 3, 1, now=later)
    assert lockout.failures(sqlite_url, "hal") == 1
