"""``hubfront accounts reset-password|disable|enable``: the same operations as Manage Users."""

import re

from hub_ext.auth import account_state
from hub_ext.auth.throttle import LoginThrottle
from hub_ext.auth.passwords import set_password, verify_password
from hub_ext.cli import main


def test_reset_password_prints_a_temporary_one_and_clears_failed_sign_ins(sqlite_url, capsys):
    set_password(sqlite_url, "ann", "Old-pass-1")
    throttle = LoginThrottle(db_url=sqlite_url)
    for _ in range(10):
        throttle.record_failure("ann", "192.0.2.1")
    assert main(["accounts", "reset-password", "ann", "--db-url", sqlite_url]) == 0
    temp = re.search(r"temporary password (\S+)", capsys.readouterr().out).group(1)
    assert verify_password(sqlite_url, "ann", temp) and not verify_password(sqlite_url, "ann", "Old-pass-1")
    assert account_state.must_change_password(sqlite_url, "ann")
    assert account_state.restriction(sqlite_url, "ann") == account_state.PASSWORD
    assert throttle.check("ann", "192.0.2.1") == 0


def test_disable_and_enable(sqlite_url, capsys):
    assert main(["accounts", "disable", "bob", "--db-url", sqlite_url]) == 0
    assert account_state.is_disabled(sqlite_url, "bob")
    assert account_state.restriction(sqlite_url, "bob") == account_state.DISABLED
    assert main(["accounts", "enable", "bob", "--db-url", sqlite_url]) == 0
    assert not account_state.is_disabled(sqlite_url, "bob")
    assert account_state.restriction(sqlite_url, "bob") is None
    assert "bob: enabled" in capsys.readouterr().out
