"""Sign-in throttling that slows guessing down without locking the owner out.

A hard lock after N failures lets anyone deny any account, the admin's
included, by failing N times. Instead (OWASP ASVS V2, NIST SP 800-63B
§5.2.2), every failed attempt (wrong password or wrong one-time code, known
username or not) makes the *next* attempt wait, counted twice:

- per (account, client address): the first ``pair_free_failures`` cost
  nothing (typos), then the wait doubles from ``pair_base_seconds`` up to
  ``pair_max_seconds``. One attacking address is slowed to a few guesses an
  hour, and only that address is.
- per account, all addresses together: it grows slowly and is capped low
  (``account_step_seconds`` more per failure after ``account_free_failures``,
  at most ``account_max_seconds``), so many addresses together are slowed too.
  At ``account_ceiling`` consecutive failures (NIST's 100) the account-wide
  wait becomes ``account_ceiling_seconds``. The account-wide wait never applies
  to an address the account has signed in from before: an attacker elsewhere
  cannot slow the owner down at their usual place at all.

An attempt made before its wait is over is refused at once, without checking
the password, and is not counted (so hammering does not push the wait
further out). A correct password and code after the wait always signs in and
resets that pair's and the account's count. Counts are in the portal database
(a hub restart forgives nothing) and are forgotten after ``forget_hours``
without a failure. An admin's unlock clears them.

:class:`LoginThrottle` is the one interface: the login form, the token API
(both through ``authenticate()``) and the SSH gateway call ``check``,
``record_failure`` and ``record_success`` with an account and an address::

    throttle = LoginThrottle(config=config, db_url=db_url)
    address = client_address(peer_ip, None, [])  # a direct connection (SSH): the peer itself
    wait = throttle.check(username, address)
    if wait:
        refuse(retry_message(wait))  # at once; the password is not checked
    elif password_ok and code_ok:
        throttle.record_success(username, address)
    else:
        throttle.record_failure(username, address)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from traitlets import Float, Integer, List, Unicode
from traitlets.config import LoggingConfigurable

from ..store import read_scope, session_scope
from ..store.models import utcnow
from ..store.models_accounts import LoginThrottleRow
from .addresses import DEFAULT_TRUSTED, networks
from ..times import utc

ALL = ""  # the address of an account's row over all addresses
_PRUNE_SECONDS = 60.0


@dataclass(frozen=True)
class ThrottlePolicy:
    """The numbers, and the waits they give (pure arithmetic, unit-tested)."""

    pair_free_failures: int = 5
    pair_base_seconds: float = 1.0
    pair_max_seconds: float = 600.0
    account_free_failures: int = 10
    account_step_seconds: float = 1.0
    account_max_seconds: float = 30.0
    account_ceiling: int = 100
    account_ceiling_seconds: float = 600.0
    forget_hours: float = 24.0

    def pair_wait(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures from one address."""
        over = failures - self.pair_free_failures
        if over <= 0:
            return 0.0
        if over > 60:  # 2**60 seconds is past any cap
            return self.pair_max_seconds
        return min(self.pair_max_seconds, self.pair_base_seconds * 2 ** (over - 1))

    def account_wait(self, failures: int) -> float:
        """Seconds a new address waits after ``failures`` consecutive failures from all addresses."""
        if self.account_ceiling and failures >= self.account_ceiling:
            return self.account_ceiling_seconds
        over = failures - self.account_free_failures
        return 0.0 if over <= 0 else min(self.account_max_seconds, self.account_step_seconds * over)




def retry_message(seconds: float) -> str:
    """The words a throttled attempt gets (the same whether the account exists or not)."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 60:
        when = f"{seconds} second{'s' if seconds != 1 else ''}"
    else:
        minutes = math.ceil(seconds / 60)
        when = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"Too many failed sign-in attempts. Try again in {when}."


@dataclass(frozen=True)
class AccountThrottle:
    """What the admin's Users page shows about an account."""

    failures: int = 0  # consecutive failures from all addresses
    slowed_until: datetime | None = None  # the longest wait any address has now


class LoginThrottle(LoggingConfigurable):
    """Per-(account, address) and per-account waits after failed sign-ins (see the module)."""

    pair_free_failures = Integer(
        5, help="Failed sign-ins to one account from one client address that cost no wait (typos).",
    ).tag(config=True)
    pair_base_seconds = Float(
        1.0, help="The wait after the first failure past pair_free_failures; it doubles with each failure.",
    ).tag(config=True)
    pair_max_seconds = Float(
        600.0, help="""The longest wait between sign-in attempts to one account from one address
        (the cap: one address gets at most 3600/this guesses an hour).""",
    ).tag(config=True)
    account_free_failures = Integer(
        10, help="Failed sign-ins to one account from all addresses together before the account-wide wait.",
    ).tag(config=True)
    account_step_seconds = Float(
        1.0, help="How much the account-wide wait grows with each further failure.",
    ).tag(config=True)
    account_max_seconds = Float(
        30.0, help="""The longest account-wide wait (kept low: it also applies to the owner when
        they sign in from an address they never signed in from before).""",
    ).tag(config=True)
    account_ceiling = Integer(
        100, help="""Consecutive failures of one account (all addresses) after which the account-wide
        wait becomes account_ceiling_seconds (NIST SP 800-63B: at most 100). 0: no ceiling.""",
    ).tag(config=True)
    account_ceiling_seconds = Float(
        600.0, help="""The account-wide wait past account_ceiling, for addresses the account never
        signed in from (its owner's usual addresses are not slowed by it).""",
    ).tag(config=True)
    forget_hours = Float(
        24.0, help="Hours without a failure after which an account's or an address's count starts again.",
    ).tag(config=True)
    trusted_proxies = List(
        Unicode(), list(DEFAULT_TRUSTED),
        help="""Addresses or networks of the proxy that connects to the hub (configurable-http-proxy),
        whose last X-Forwarded-For entry is believed; proxies in front of it go in
        JupyterHub.trusted_downstream_ips. On Kubernetes add the proxy pod's network, else every
        browser counts as the proxy's address.""",
    ).tag(config=True)

    def __init__(self, db_url: str = "", clock: Callable[[], datetime] = utcnow, **kwargs):
        super().__init__(**kwargs)
        self.db_url = db_url
        self.clock = clock  # tests pass their own
        self._pruned = 0.0

    @property
    def policy(self) -> ThrottlePolicy:
        return ThrottlePolicy(**{name: getattr(self, name) for name in ThrottlePolicy.__dataclass_fields__})

    @property
    def trusted(self):
        return networks(self.trusted_proxies)

    # -- the interface -------------------------------------------------------------

    def check(self, account: str, address: str) -> float:
        """Seconds ``address`` must still wait before an attempt on ``account`` is taken (0: go ahead)."""
        now = self.clock()
        forget = now - timedelta(hours=self.forget_hours)
        with read_scope(self.db_url) as s:
            rows = {r.address: r for r in s.scalars(select(LoginThrottleRow).where(
                LoginThrottleRow.account == account, LoginThrottleRow.address.in_((address, ALL))))}
        return self._wait(rows.get(address), rows.get(ALL), now, forget)

    def record_failure(self, account: str, address: str) -> float:
        """Count a failed attempt; the seconds the next attempt from ``address`` must wait."""
        now = self.clock()
        policy = self.policy
        forget = now - timedelta(hours=self.forget_hours)
        for attempt in range(3):
            try:
                with session_scope(self.db_url) as s:
                    pair = self._row(s, account, address)
                    both = self._row(s, account, ALL)
                    for row, wait in ((pair, policy.pair_wait), (both, policy.account_wait)):
                        if row.failures and (utc(row.last_failure) or now) < forget:
                            row.failures = 0  # a quiet day starts the count again
                        row.failures = (row.failures or 0) + 1
                        row.last_failure = now
                        row.wait_until = now + timedelta(seconds=wait(row.failures))
                    waited = self._wait(pair, both, now, forget)
                    if both.failures == policy.account_ceiling:
                        self.log.warning("Sign-ins to %s failed %d times in a row: addresses it never signed in "
                                         "from now wait %.0f s", account, both.failures,
                                         policy.account_ceiling_seconds)
                break
            except IntegrityError:  # PostgreSQL: another attempt created the row first
                if attempt == 2:
                    raise
        self._prune(now, forget)
        return waited

    def record_success(self, account: str, address: str) -> None:
        """The right password (and code): this pair's and the account's counts start again."""
        now = self.clock()
        for attempt in range(3):
            try:
                with session_scope(self.db_url) as s:
                    pair = self._row(s, account, address)
                    pair.failures, pair.wait_until, pair.last_success = 0, None, now
                    s.execute(update(LoginThrottleRow).where(LoginThrottleRow.account == account,
                                                             LoginThrottleRow.address == ALL)
                              .values(failures=0, wait_until=None))
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def clear(self, account: str) -> None:
        """An admin's unlock: no wait and no count for ``account`` from anywhere."""
        with session_scope(self.db_url) as s:
            s.execute(update(LoginThrottleRow).where(LoginThrottleRow.account == account)
                      .values(failures=0, wait_until=None))

    def state(self, account: str) -> AccountThrottle:
        """Failures in a row and until when some address is slowed down (the Users page)."""
        now = self.clock()
        with read_scope(self.db_url) as s:
            rows = s.scalars(select(LoginThrottleRow).where(LoginThrottleRow.account == account)).all()
        return self._summary(rows, now)

    def states(self) -> dict[str, AccountThrottle]:
        """:meth:`state` of every account with failures, in one read."""
        now = self.clock()
        with read_scope(self.db_url) as s:
            rows = s.scalars(select(LoginThrottleRow).where(LoginThrottleRow.failures > 0)).all()
        by_account: dict[str, list] = {}
        for row in rows:
            by_account.setdefault(row.account, []).append(row)
        return {name: self._summary(group, now) for name, group in by_account.items()}

    # -- inside ------------------------------------------------------------------

    def _summary(self, rows, now: datetime) -> AccountThrottle:
        forget = now - timedelta(hours=self.forget_hours)
        live = [r for r in rows if r.failures and (utc(r.last_failure) or now) >= forget]
        failures = next((r.failures for r in live if r.address == ALL), 0)
        untils = [u for u in (utc(r.wait_until) for r in live) if u and u > now]
        return AccountThrottle(failures=failures, slowed_until=max(untils) if untils else None)

    def _wait(self, pair, both, now: datetime, forget: datetime) -> float:
        def left(row) -> float:
            if row is None or not row.failures or (utc(row.last_failure) or now) < forget:
                return 0.0
            until = utc(row.wait_until)
            return max(0.0, (until - now).total_seconds()) if until else 0.0

        known = pair is not None and pair.last_success is not None
        return max(left(pair), 0.0 if known else left(both))

    @staticmethod
    def _row(s, account: str, address: str) -> LoginThrottleRow:
        row = s.get(LoginThrottleRow, (account, address), with_for_update=True)
        if row is None:
            row = LoginThrottleRow(account=account, address=address, failures=0)
            s.add(row)
            s.flush()
        return row

    def _prune(self, now: datetime, forget: datetime) -> None:
        """Forget quiet counts (at most once a minute), keeping addresses the owner signed in from."""
        if time.monotonic() - self._pruned < _PRUNE_SECONDS:
            return
        self._pruned = time.monotonic()
        row = LoginThrottleRow
        with session_scope(self.db_url) as s:
            s.execute(delete(row).where(row.last_success.is_(None), row.last_failure < forget))
            s.execute(delete(row).where(row.last_success < now - timedelta(days=365),
                                        or_(row.last_failure.is_(None), row.last_failure < forget)))
