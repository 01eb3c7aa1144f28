"""Root never follows a member's path (issue 20, the race): a member's workload swaps a file and a symbolic
link in its group's tree in a loop (renameat2 RENAME_EXCHANGE), the links pointing at the hub's secret
(a 0600 root file, like <data>/secret-key) and at a root-owned copy of an executable, for 30 s, while the
real PermissionKeeper adopts what appears and grant_user / adopt / inherit_acl run over the tree again
and again (as root). The secret's mode, owner, ACL and content never change, the executable never gains
set-user-ID, and no file in the tree keeps set-user-ID (a member's 4755 file moved in loses it)."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import threading
import time

import pytest

from hub_ext.isolation import safefs, shared
from hub_ext.storage.adopter import PermissionKeeper
from hub_ext.storage.tree import ensure_group_root
from support import isolated_data_dir, need

pytestmark = pytest.mark.isolation
RACE_SECONDS = 30

# Run as the member's account, in its group's tree: three pairs swapped as fast as the kernel allows, a
# folder swapped with a link to the data dir, and new entries (CREATE / MOVED_TO events for the keeper).
RACER = r"""
import ctypes, os, sys, time
tree, secret, tool, data, seconds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
def exchange(a, b):
    libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), RENAME_EXCHANGE)
os.chdir(tree)
def regular(name):
    with open(name, "w") as f:
        f.write("#!/bin/sh\necho member\n")
    os.chmod(name, 0o4755)
for a, b, target in (("f1", "l1", secret), ("f2", "l2", tool), ("f3", "l3", secret)):
    regular(a)
    os.symlink(target, b)
os.mkdir("d")
regular("d/inner")
os.symlink(data, "ld")
end, n = time.monotonic() + seconds, 0
while time.monotonic() < end:
    exchange("f1", "l1"); exchange("f2", "l2"); exchange("f3", "l3"); exchange("d", "ld")
    n += 1
    if n % 200 == 0:  # new names: the keeper sees them appear (made, then swapped with a link)
        regular(f"n{n}")
        os.symlink(secret if n % 400 else tool, f"m{n}")
        exchange(f"n{n}", f"m{n}")
print(n)
"""


class Rig:
    def __init__(self, tmp_path, sqlite_url):
        self.data, self.iso = isolated_data_dir(tmp_path)
        self.db_url = sqlite_url
        self.home = self.data / "homes" / "racer"
        self.account = self.iso.account("racer", ["racegrp"], str(self.home))
        self.tree = ensure_group_root(self.data, "racegrp", self.iso)
        self.gid = self.iso.unix_gid("racegrp")
        self.secret = self.data / "secret-key"  # the hub's own secret, beside the trees
        self.secret.write_bytes(b"the cookie secret")
        self.secret.chmod(0o600)
        self.tool = self.data / "python3-copy"
        shutil.copy2("/bin/true", self.tool)
        self.tool.chmod(0o755)


@pytest.fixture
def rig(tmp_path, sqlite_url):
    need(os.geteuid() == 0, "OS accounts and root's file operations need root (CI runs the suite as root)")
    return Rig(tmp_path, sqlite_url)


def _snapshot(path):
    st = os.lstat(path)
    try:
        acl = os.getxattr(path, "system.posix_acl_access", follow_symlinks=False)
    except OSError:
        acl = None
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), acl


async def test_a_member_racing_links_never_gets_root_to_change_what_they_point_at(rig):
    secret_before, tool_before = _snapshot(rig.secret), _snapshot(rig.tool)
    keeper = PermissionKeeper(rig.data, rig.db_url, rig.iso)
    stop_keeper, stop_root = asyncio.Event(), threading.Event()
    seen: list[str] = []

    def watch():  # the secret and the tool, sampled all along
        while not stop_root.is_set():
            if _snapshot(rig.secret) != secret_before:
                seen.append(f"secret changed: {_snapshot(rig.secret)}")
            if _snapshot(rig.tool)[2] & (stat.S_ISUID | stat.S_ISGID) or _snapshot(rig.tool) != tool_before:
                seen.append(f"tool changed: {_snapshot(rig.tool)}")
            time.sleep(0.005)

    errors: list[str] = []

    def root_side():  # what the hub does on member trees, again and again
        while not stop_root.is_set():
            for action in (lambda: shared.grant_user(rig.tree, 65534, "rw"), lambda: shared.adopt(rig.tree, rig.gid),
                           lambda: shared.revoke_user(rig.tree, 65534), inherit):
                try:
                    action()
                except (FileNotFoundError, safefs.Refused):
                    pass  # a name gone or a link met: refused, nothing done
                except OSError as exc:
                    errors.append(repr(exc))

    def inherit():
        fd = safefs.open_dir(rig.tree)
        try:
            for name in ("f1", "l1", "f2", "l2", "f3", "l3", "d", "ld"):
                try:
                    shared.inherit_acl(fd, name)
                except FileNotFoundError:
                    pass
        finally:
            os.close(fd)

    task = asyncio.create_task(keeper.run(stop_keeper))
    threads = [threading.Thread(target=watch), threading.Thread(target=root_side)]
    racer = None
    try:
        while not keeper.started:
            await asyncio.sleep(0.05)
        for t in threads:
            t.start()
        racer = subprocess.Popen(
            [sys.executable, "-c", RACER, str(rig.tree), str(rig.secret), str(rig.tool), str(rig.data),
             str(RACE_SECONDS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={"PATH": os.defpath, "HOME": str(rig.home)},
            preexec_fn=rig.iso.preexec(rig.account, None, str(rig.home)))
        out, err = await asyncio.to_thread(racer.communicate, timeout=RACE_SECONDS + 30)
        assert racer.returncode == 0, err
        assert int(out) > 1000, f"the member swapped only {out.strip()} times: no race was run"
        stop_root.set()
        for t in threads:
            t.join(30)
        assert not seen, seen[:5]
        assert not errors, errors[:5]
        # a member's set-user-ID file moved in after the race comes out without the bit
        moved = subprocess.run(
            [sys.executable, "-c", "import os, sys\nopen('own', 'w').write('x')\nos.chmod('own', 0o4755)\n"
             "os.rename('own', os.path.join(sys.argv[1], 'moved-in'))", str(rig.tree)],
            capture_output=True, text=True, env={"PATH": os.defpath, "HOME": str(rig.home)},
            preexec_fn=rig.iso.preexec(rig.account, None, str(rig.home)), timeout=30)
        assert moved.returncode == 0, moved.stderr
        until = time.monotonic() + 30  # the keeper may still be working through the race's events
        while time.monotonic() < until and os.lstat(rig.tree / "moved-in").st_mode & stat.S_ISUID:
            await asyncio.sleep(0.05)
        assert not os.lstat(rig.tree / "moved-in").st_mode & stat.S_ISUID
        assert os.lstat(rig.tree / "moved-in").st_gid == rig.gid
    finally:
        stop_root.set()
        for t in threads:
            if t.is_alive():
                t.join(30)
        if racer is not None and racer.poll() is None:
            racer.kill()
            racer.wait()
        stop_keeper.set()
        task.cancel()
    assert not seen, seen[:5]
    assert not errors, errors[:5]
    assert rig.secret.read_bytes() == b"the cookie secret"
    assert _snapshot(rig.secret) == secret_before and _snapshot(rig.tool) == tool_before
    # nothing in the tree is set-ID once the keeper has been over it
    shared.adopt(rig.tree, rig.gid)
    kept = [f"{dirpath}/{name}" for dirpath, _, files in os.walk(rig.tree) for name in files
            if stat.S_ISREG(os.lstat(f"{dirpath}/{name}").st_mode)
            and os.lstat(f"{dirpath}/{name}").st_mode & (stat.S_ISUID | stat.S_ISGID)]
    assert not kept, kept[:5]
