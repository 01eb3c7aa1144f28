"""``hubfront accounts``: rescue a locked-out account from the command line."""

import io

from hub_ext.auth import lockout
from hub_ext.auth.passwords import verify_password
from hub_ext.cli import main


def test_unlock_and_set_password(sqlite_url, monkeypatch, capsys):
    for _ in range(10):
        lockout.record_failure(sqlite_url, "root", 10, 15)
    assert main(["accounts", "unlock", "root", "--db-url", sqlite_url]) == 0
    assert lockout.locked_until(sqlite_url, "root") is None
    monkeypatch.setattr("sys.stdin", io.StringIO("weak\n"))
    assert main(["accounts", "set-password", "root", "--stdin", "--db-url", sqlite_url]) == 2
    assert "at least one number" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("Rescue-pass1\n"))
    assert main(["accounts", "set-password", "root", "--stdin", "--temporary", "--db-url", sqlite_url]) == 0
    assert verify_password(sqlite_url, "root", "Rescue-pass1")
    assert lockout.must_change_password(sqlite_url, "root")
