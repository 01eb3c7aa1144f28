"""``hubfront accounts``: rescue an account from the command line."""

import io

from hub_ext.auth import account_state
from hub_ext.auth.throttle import LoginThrottle
from hub_ext.auth.passwords import verify_password
from hub_ext.cli import main


def test_unlock_and_set_password(sqlite_url, monkeypatch, capsys):
    throttle = LoginThrottle(db_url=sqlite_url)
    for _ in range(10):
        throttle.record_failure("root", "192.0.2.1")
    assert throttle.check("root", "192.0.2.1") > 0
    assert main(["accounts", "unlock", "root", "--db-url", sqlite_url]) == 0
    assert throttle.check("root", "192.0.2.1") == 0 and throttle.state("root").failures == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("weak\n"))
    assert main(["accounts", "set-password", "root", "--stdin", "--db-url", sqlite_url]) == 2
    assert "at least one number" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("Rescue-pass1\n"))
    assert main(["accounts", "set-password", "root", "--stdin", "--temporary", "--db-url", sqlite_url]) == 0
    assert verify_password(sqlite_url, "root", "Rescue-pass1")
    assert account_state.must_change_password(sqlite_url, "root")
