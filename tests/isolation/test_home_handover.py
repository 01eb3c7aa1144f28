"""A home made before isolation was on is handed to its new OS account without root following
anything the member put in it (needs root: CI runs as root).

Before isolation, the member's workloads ran as root and wrote their home as root; they may have
left links to root's files there. The hand-over must give the account its own files (set-ID bits
dropped), and leave every file outside the home, and any file hard-linked in, exactly as it was.
"""

from __future__ import annotations

import os
import stat

import pytest

from hub_ext.isolation.accounts import Accounts
from support import ACCOUNT_PREFIX, let_workloads_pass, need

pytestmark = pytest.mark.isolation


def owner(path) -> tuple[int, int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_a_pre_isolation_home_is_handed_over_by_descriptors(tmp_path):
    need(os.geteuid() == 0, "OS accounts need root (CI runs the suite as root)")
    let_workloads_pass(tmp_path)
    outside = tmp_path / "root-only"
    outside.mkdir(mode=0o700)
    canary = outside / "canary"
    canary.write_text("root's\n")
    canary.chmod(0o600)
    linked = outside / "linked"
    linked.write_text("root's too\n")
    linked.chmod(0o600)
    home = tmp_path / "homes" / "hover"
    (home / "work" / "deep").mkdir(parents=True)
    home.chmod(0o755)
    (home / "notes.txt").write_text("mine\n")
    (home / "work" / "deep" / "model.bin").write_bytes(b"\0" * 10)
    tool = home / "work" / "tool"
    tool.write_bytes(b"#!/bin/sh\n")
    tool.chmod(0o4755)  # set-user-ID, root's: must not survive being handed over
    (home / "to-canary").symlink_to(canary)
    (home / "work" / "to-outside").symlink_to(outside)
    os.link(linked, home / "work" / "hard")  # another owner's file with a second name in the home
    before = {p: owner(p) for p in (outside, canary, linked)}

    accounts = Accounts(ACCOUNT_PREFIX, tmp_path / ".accounts.lock")
    account = accounts.ensure("hover", ["hover-lab"], home)

    uid, gid = account.uid, account.gid
    assert owner(home) == (uid, gid, 0o700)
    for mine in ("notes.txt", "work", "work/deep", "work/deep/model.bin", "to-canary", "work/to-outside"):
        assert owner(home / mine)[:2] == (uid, gid), mine
    assert owner(tool) == (uid, gid, 0o755)  # the set-user-ID bit is gone
    # nothing outside the home changed, nor the file linked in from outside
    assert {p: owner(p) for p in (outside, canary, linked)} == before
    assert owner(home / "work" / "hard") == before[linked]
    assert canary.read_text() == "root's\n"
    # handed over once: a home already the account's is not walked again at each launch
    (home / "later.txt").write_text("root's later\n")
    accounts.ensure("hover", ["hover-lab"], home)
    assert owner(home / "later.txt")[0] == 0
