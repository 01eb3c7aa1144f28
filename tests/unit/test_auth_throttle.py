"""Sign-in throttling: the waits' arithmetic, and the counts in the portal database, on a clock the test moves."""

from datetime import datetime, timedelta, timezone

import pytest

from hub_ext.auth.addresses import client_address, networks
from hub_ext.auth.throttle import LoginThrottle, ThrottlePolicy, retry_message
from hub_ext.store.engine import dispose_engines

ATTACKER, OWNER, OTHER = "198.51.100.7", "203.0.113.5", "192.0.2.44"


class Clock:
    def __init__(self):
        self.now = datetime(2030, 1, 1, 12, tzinfo=timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def throttle(sqlite_url, clock):
    return LoginThrottle(db_url=sqlite_url, clock=clock)


def fail_when_allowed(throttle, clock, account, address, times):
    """An attacker who tries again the moment the wait is over: the seconds waited in all."""
    waited = 0.0
    for _ in range(times):
        wait = throttle.check(account, address)
        clock.advance(wait)
        waited += wait
        assert throttle.check(account, address) == 0
        throttle.record_failure(account, address)
    return waited


def test_pair_waits_double_after_the_free_failures_up_to_the_cap():
    p = ThrottlePolicy()
    assert [p.pair_wait(n) for n in range(0, 6)] == [0, 0, 0, 0, 0, 0]
    assert [p.pair_wait(n) for n in range(6, 11)] == [1, 2, 4, 8, 16]
    assert p.pair_wait(15) == 512 and p.pair_wait(16) == 600 and p.pair_wait(10_000) == 600


def test_account_wait_grows_slowly_is_capped_low_and_jumps_at_nists_ceiling():
    p = ThrottlePolicy()
    assert p.account_wait(10) == 0 and p.account_wait(11) == 1 and p.account_wait(25) == 15
    assert p.account_wait(40) == 30 and p.account_wait(99) == 30
    assert p.account_wait(100) == 600 and p.account_wait(5000) == 600
    assert ThrottlePolicy(account_ceiling=0).account_wait(5000) == 30


def test_one_address_is_slowed_to_the_cap_and_no_further(throttle, clock):
    for _ in range(5):
        assert throttle.record_failure("admin", ATTACKER) == 0
    assert throttle.record_failure("admin", ATTACKER) == 1
    assert throttle.check("admin", ATTACKER) == 1
    clock.advance(0.5)
    assert throttle.check("admin", ATTACKER) == 0.5
    waited = fail_when_allowed(throttle, clock, "admin", ATTACKER, 14)  # failures 7..20
    assert waited == pytest.approx(0.5 + 2 + 4 + 8 + 16 + 32 + 64 + 128 + 256 + 512 + 600 * 4)
    assert throttle.check("admin", ATTACKER) == 600
    assert throttle.state("admin").failures == 20


def test_an_attempt_inside_the_wait_does_not_push_it_out(throttle, clock):
    for _ in range(8):
        throttle.record_failure("admin", ATTACKER)
    assert throttle.check("admin", ATTACKER) == 4
    for _ in range(50):  # refused attempts are not counted (the caller never records them)
        clock.advance(0.05)
        assert 0 < throttle.check("admin", ATTACKER) < 4
    clock.advance(2)
    assert throttle.check("admin", ATTACKER) == 0


def test_another_address_waits_at_most_the_small_account_wide_wait(throttle, clock):
    fail_when_allowed(throttle, clock, "admin", ATTACKER, 20)
    # 20 failures all told: a new address waits (20 - 10) s at most, from the last failure
    assert throttle.check("admin", OTHER) == pytest.approx(10)
    clock.advance(10)
    assert throttle.check("admin", OTHER) == 0
    assert throttle.check("admin", ATTACKER) > 500


def test_the_owners_usual_address_is_never_slowed_by_others_failures(throttle, clock):
    throttle.record_success("admin", OWNER)
    fail_when_allowed(throttle, clock, "admin", ATTACKER, 20)
    for i in range(200):  # many addresses: the account passes NIST's ceiling
        throttle.record_failure("admin", f"10.1.{i // 250}.{i % 250}")
    assert throttle.state("admin").failures == 220
    assert throttle.check("admin", OTHER) == 600  # a new address: the ceiling's wait
    assert throttle.check("admin", OWNER) == 0  # the owner's: none
    throttle.record_success("admin", OWNER)  # and their success starts the account's count again
    assert throttle.state("admin").failures == 0 and throttle.check("admin", OTHER) == 0
    assert throttle.check("admin", ATTACKER) == 600  # the attacker's own wait stays


def test_success_resets_the_pair_and_unlock_clears_every_address(throttle, clock):
    fail_when_allowed(throttle, clock, "ann", OWNER, 8)
    clock.advance(throttle.check("ann", OWNER))
    throttle.record_success("ann", OWNER)
    assert throttle.record_failure("ann", OWNER) == 0  # typos are free again
    fail_when_allowed(throttle, clock, "ann", ATTACKER, 12)
    assert throttle.check("ann", ATTACKER) > 0
    throttle.clear("ann")
    assert throttle.check("ann", ATTACKER) == 0 and throttle.state("ann").failures == 0


def test_unknown_usernames_are_counted_alike(throttle, clock):
    for name in ("admin", "no-such-user"):
        for _ in range(7):
            throttle.record_failure(name, ATTACKER)
    assert throttle.check("admin", ATTACKER) == throttle.check("no-such-user", ATTACKER) == 2


def test_counts_survive_a_restart_and_are_forgotten_after_a_quiet_day(throttle, clock, sqlite_url):
    fail_when_allowed(throttle, clock, "bob", ATTACKER, 12)
    dispose_engines()  # as after a hub restart
    again = LoginThrottle(db_url=sqlite_url, clock=clock)
    assert again.check("bob", ATTACKER) == 64 and again.state("bob").failures == 12
    clock.advance(24 * 3600 + 1)
    assert again.check("bob", ATTACKER) == 0
    assert again.record_failure("bob", ATTACKER) == 0  # counting starts again
    assert again.state("bob").failures == 1


def test_the_admin_page_sees_failures_and_until_when(throttle, clock):
    fail_when_allowed(throttle, clock, "cid", ATTACKER, 7)
    state = throttle.states()["cid"]
    assert state.failures == 7 and state.slowed_until == clock.now + timedelta(seconds=2)


def test_config_changes_the_numbers(sqlite_url, clock):
    from traitlets.config import Config

    cfg = Config()
    cfg.LoginThrottle.pair_free_failures = 1
    cfg.LoginThrottle.pair_max_seconds = 3
    t = LoginThrottle(config=cfg, db_url=sqlite_url, clock=clock)
    assert t.record_failure("dan", ATTACKER) == 0
    assert [t.record_failure("dan", ATTACKER) for _ in range(4)] == [1, 2, 3, 3]


@pytest.mark.parametrize(("seconds", "words"), [
    (0.2, "1 second."), (1, "1 second."), (37.1, "38 seconds."), (60, "1 minute."), (61, "2 minutes."),
    (600, "10 minutes."),
])
def test_the_message_says_when_to_try_again(seconds, words):
    assert retry_message(seconds) == f"Too many failed sign-in attempts. Try again in {words}"


TRUSTED = networks(["127.0.0.0/8", "::1"])


@pytest.mark.parametrize(("peer", "xff", "address"), [
    ("127.0.0.1", "203.0.113.5", "203.0.113.5"),  # the proxy appended what it saw
    ("127.0.0.1", "10.9.9.9, 203.0.113.5", "203.0.113.5"),  # the client's own header is never reached
    ("127.0.0.1", "10.9.9.9,127.0.0.1", "127.0.0.1"),  # a client on the host itself names no other
    ("127.0.0.1", None, "127.0.0.1"),
    ("127.0.0.1", "not-an-ip", "127.0.0.1"),
    ("198.51.100.7", "10.9.9.9", "198.51.100.7"),  # straight to the hub's port: the header is ignored
    ("::ffff:203.0.113.5", None, "203.0.113.5"),
    ("::1", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),  # a whole /64 is one address
    ("127.0.0.1", "2001:db8:1:2::9", "2001:db8:1:2::/64"),
    ("", None, "unknown"),
])
def test_client_address_believes_only_the_trusted_proxy(peer, xff, address):
    assert client_address(peer, xff, TRUSTED) == address


def test_a_tls_proxy_in_front_is_skipped_when_trusted_downstream():
    tls = networks(["192.0.2.10"])
    assert client_address("127.0.0.1", "10.9.9.9, 203.0.113.5,192.0.2.10", TRUSTED, tls) == "203.0.113.5"
    assert client_address("127.0.0.1", "203.0.113.5,192.0.2.10", TRUSTED) == "192.0.2.10"


def test_a_bad_trusted_proxy_setting_is_named():
    with pytest.raises(ValueError, match="proxy-pod"):
        networks(["10.0.0.0/8", "proxy-pod"])
