"""The isolation module on real processes, OS accounts and cgroups (needs root: CI runs as root).

Each test starts a real process through ``Isolation.preexec`` (what every local
workload uses) and checks what the kernel enforces.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
import sys
import time

import pytest

from hub_ext.isolation.accounts import COMMENT
from support import ACCOUNT_PREFIX, need

pytestmark = pytest.mark.isolation


def run(iso, code: str, *, account=None, cgroup=None, home: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], preexec_fn=iso.preexec(account, cgroup, home),
                          capture_output=True, text=True, timeout=timeout)


def test_account_home_groups_and_umask(isolation, tmp_path):
    home = tmp_path / "data" / "homes" / "Odd User@x"
    account = isolation.account("Odd User@x", ["research", "team two"], str(home))
    entry = pwd.getpwnam(account.name)
    assert entry.pw_uid == account.uid != 0 and entry.pw_gecos == COMMENT and entry.pw_shell == "/bin/bash"
    assert entry.pw_dir == str(home) and account.name.startswith(ACCOUNT_PREFIX) and "_" in account.name
    assert stat.S_IMODE(home.stat().st_mode) == 0o700 and home.stat().st_uid == account.uid
    unix_groups = {grp.getgrgid(g).gr_name for g in account.groups}
    assert unix_groups == {f"{ACCOUNT_PREFIX}g-research", next(n for n in unix_groups if "two" in n)}
    out = run(isolation, "import os; open('f', 'w').close(); print(os.getuid(), sorted(os.getgroups()), "
              "oct(os.stat('f').st_mode & 0o777), os.getcwd())", account=account, home=str(home))
    uid, *rest = out.stdout.split(" ", 1)
    assert int(uid) == account.uid, out.stderr
    assert str(sorted({account.gid, *account.groups})) in out.stdout and "0o600" in out.stdout
    # leaving a hub group takes the account out of its Unix group at the next launch
    again = isolation.account("Odd User@x", ["research"], str(home))
    assert {grp.getgrgid(g).gr_name for g in again.groups} == {f"{ACCOUNT_PREFIX}g-research"}
    members = grp.getgrnam(next(n for n in unix_groups if "two" in n)).gr_mem
    assert account.name not in members


def test_an_account_cannot_read_another_home_or_root_files(isolation, tmp_path):
    homes = tmp_path / "data" / "homes"
    a = isolation.account("iso-a", [], str(homes / "iso-a"))
    b = isolation.account("iso-b", [], str(homes / "iso-b"))
    secret = tmp_path / "data" / "secret"
    secret.write_text("hub only")
    secret.chmod(0o600)
    wrote = run(isolation, "open('notes.txt', 'w').write('b private')", account=b, home=str(homes / "iso-b"))
    assert wrote.returncode == 0, wrote.stderr
    probe = run(isolation, f"""
import os
for p in ({str(homes / 'iso-b' / 'notes.txt')!r}, {str(secret)!r}):
    try:
        open(p).read(); print('READ', p)
    except PermissionError:
        print('DENIED', p)
""", account=a, home=str(homes / "iso-a"))
    assert probe.stdout.count("DENIED") == 2, probe.stdout + probe.stderr


def test_memory_limit_kills_and_is_counted(isolation):
    limits = isolation.limits(memory=128 * 2**20, cpu=None)
    cgroup = isolation.create_cgroup("test", "mem/limit", limits)
    try:
        out = run(isolation, "b = bytearray(600 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('survived')",
                  cgroup=cgroup, home="/")
        assert out.returncode == -9 and "survived" not in out.stdout
        assert cgroup.oom_kills() >= 1
    finally:
        assert cgroup.remove()
    assert all(not p.exists() for p in cgroup.paths)


def test_cpu_quota_holds_a_busy_loop_to_half_a_core(isolation):
    cgroup = isolation.create_cgroup("test", "cpu/half", isolation.limits(memory=None, cpu=0.5))
    try:
        start = time.monotonic()
        run(isolation, "import time\nend = time.time() + 5\nwhile time.time() < end: pass", cgroup=cgroup, home="/")
        cores = cgroup.cpu_usage_ns() / 1e9 / (time.monotonic() - start)
        assert cores <= 0.6, cores  # the quota is 0.5 core per 100 ms period
        assert cores >= 0.2  # and it did run
    finally:
        cgroup.remove()


def test_process_count_is_capped(isolation):
    isolation.pids_limit = 20
    cgroup = isolation.create_cgroup("test", "pids/cap", isolation.limits(memory=None, cpu=None))
    try:
        out = run(isolation, """
import threading, time
started = 0
try:
    for _ in range(100):
        threading.Thread(target=time.sleep, args=(2,), daemon=True).start(); started += 1
except RuntimeError:
    pass
print(started)
""", cgroup=cgroup, home="/")
        assert int(out.stdout) < 20, out.stdout + out.stderr
    finally:
        cgroup.remove()


def test_gpu_device_nodes_not_granted_cannot_be_opened(isolation, tmp_path):
    """Fake NVIDIA nodes (char 195:N): a granted one opens as far as the driver (ENXIO), others EPERM."""
    need("devices" in isolation.hierarchy.controllers, "no devices controller (cgroup v2 does not have one)")
    nodes = tmp_path / "dev"
    nodes.mkdir()
    for i in range(4):
        os.mknod(nodes / f"nvidia{i}", 0o666 | stat.S_IFCHR, os.makedev(195, i))
    isolation.gpu_device_template = str(nodes / "nvidia{index}")
    limits = isolation.limits(memory=None, cpu=None, granted_gpus=[2], gpu_inventory=range(4))
    assert limits.deny_devices == ("c 195:0 rwm", "c 195:1 rwm", "c 195:3 rwm")
    cgroup = isolation.create_cgroup("test", "gpu/two", limits)
    try:
        out = run(isolation, f"""
import errno, os
for i in range(4):
    try:
        os.close(os.open({str(nodes)!r} + f'/nvidia{{i}}', os.O_RDWR)); print(i, 'open')
    except OSError as e:
        print(i, errno.errorcode[e.errno])
""", cgroup=cgroup, home="/")
        assert out.stdout.split("\n")[:4] == ["0 EPERM", "1 EPERM", "2 ENXIO", "3 EPERM"], out.stdout + out.stderr
    finally:
        cgroup.remove()


def test_stale_cgroups_are_removed_and_live_ones_kept(isolation):
    stale = isolation.create_cgroup("test", "stale/one", isolation.limits(memory=None, cpu=None))
    live = isolation.create_cgroup("test", "live/one", isolation.limits(memory=None, cpu=None))
    proc = subprocess.Popen(["sleep", "30"], preexec_fn=isolation.preexec(None, live, "/"))
    try:
        removed = isolation.remove_stale_cgroups()
        assert stale.name in removed and live.name not in removed
        assert all(p.exists() for p in live.paths) and not any(p.exists() for p in stale.paths)
    finally:
        assert live.remove()
        proc.wait(5)
    assert proc.returncode == -9
