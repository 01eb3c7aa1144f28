"""The isolation module's rules, without root: names, cgroup files, device rules, data dir modes, env."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from hub_ext.isolation.manager import SHARED_NETWORK
from hub_ext.isolation import Isolation, IsolationError
from hub_ext.isolation.cgroups import Hierarchy, Limits, detect, device_rules, parse_mounts
from hub_ext.isolation.hardening import secure_data_dir, unreachable_ancestor
from hub_ext.isolation.names import account_name, primary_group_name, unix_group_name

USERADD_NAME = re.compile(r"^[a-z_][a-z0-9_-]*$")


@pytest.mark.parametrize("username, expected", [
    ("alice", "hubfront-alice"),
    ("bob-2", "hubfront-bob-2"),
])
def test_plain_names_keep_their_spelling(username, expected):
    assert account_name("hubfront-", username) == expected


def test_odd_and_long_names_are_valid_short_and_distinct():
    odd = ["Alice", "alice@example.org", "ALICE", "a" * 60, "a" * 61, "üñí", "-", "_", "x y", "alice_1",
           "1abc", "a" * 23, "a" * 24]
    names = [account_name("hubfront-", u) for u in odd]
    assert all(USERADD_NAME.match(n) and len(n) <= 32 for n in names), names
    assert len(set(names)) == len(names)
    assert account_name("hubfront-", "a" * 23) == "hubfront-" + "a" * 23  # exactly 32: kept
    # a hashed name can never equal a plain one: plain names have no "_"
    assert "_" in account_name("hubfront-", "Alice") and "_" not in account_name("hubfront-", "alice")


def test_group_names_and_the_shared_primary_group():
    assert unix_group_name("hubfront-", "research") == "hubfront-g-research"
    assert USERADD_NAME.match(unix_group_name("hubfront-", "Research Team (2025)"))
    assert primary_group_name("hubfront-") == "hubfront"


def test_account_prefix_is_validated():
    with pytest.raises(IsolationError, match="account_prefix"):
        Isolation(account_prefix="Bad Prefix")


def test_parse_mounts_finds_v1_controllers_and_the_unified_tree():
    text = ("cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
            "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0\n"
            "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n")
    unified, v1 = parse_mounts(text)
    assert unified == Path("/sys/fs/cgroup/unified")
    assert v1 == {"memory": Path("/sys/fs/cgroup/memory"), "cpu": Path("/sys/fs/cgroup/cpu,cpuacct"),
                  "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct")}


def test_v2_is_chosen_when_the_unified_tree_has_memory(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    hierarchy, reason = detect("hubfront/abc", f"cgroup2 {tmp_path} cgroup2 rw 0 0\n")
    assert reason == "" and hierarchy.version == 2 and hierarchy.controllers == ["memory", "cpu", "pids"]
    assert (tmp_path / "hubfront" / "abc" / "cgroup.subtree_control").read_text() == "+memory +cpu +pids\n"


def test_v2_limits_written(tmp_path):
    hierarchy = Hierarchy(2, {c: tmp_path for c in ("memory", "cpu", "pids")}, "hubfront/x")
    group = hierarchy.create("notebook-a", Limits(memory=512 * 2**20, cpu=0.5, pids=100))
    d = tmp_path / "hubfront" / "x" / "notebook-a"
    assert group.paths == [d]
    files = {f: (d / f).read_text().strip() for f in
             ("memory.max", "memory.swap.max", "memory.oom.group", "cpu.max", "pids.max")}
    assert files == {"memory.max": str(512 * 2**20), "memory.swap.max": "0", "memory.oom.group": "1",
                     "cpu.max": "50000 100000", "pids.max": "100"}
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.oom_kills() == 1


def test_v1_limits_written_per_controller(tmp_path):
    mounts = {c: tmp_path / c for c in ("memory", "cpu", "pids", "devices")}
    for m in mounts.values():
        m.mkdir()
    hierarchy = Hierarchy(1, mounts, "hubfront/x")
    # a swap-accounting kernel has memsw; the fake tree gets the file when the cgroup dir is made
    group = hierarchy.create("nb", Limits(memory=2**30, cpu=1.5, pids=64, deny_devices=("c 195:1 rwm",)))
    read = lambda c, f: (mounts[c] / "hubfront" / "x" / "nb" / f).read_text().strip()  # noqa: E731
    assert read("memory", "memory.limit_in_bytes") == str(2**30)
    assert read("cpu", "cpu.cfs_quota_us") == "150000" and read("cpu", "cpu.cfs_period_us") == "100000"
    assert read("pids", "pids.max") == "64"
    assert read("devices", "devices.deny") == "c 195:1 rwm"
    assert len(group.paths) == 4


def test_device_rules_deny_only_gpus_not_granted(monkeypatch):
    nodes = {f"/dev/nvidia{i}": os.makedev(195, i) for i in range(4)}
    real_stat = os.stat

    class FakeStat:
        def __init__(self, rdev):
            self.st_mode, self.st_rdev = stat.S_IFCHR | 0o666, rdev

    def fake_stat(path, *a, **kw):
        return FakeStat(nodes[path]) if path in nodes else real_stat(path, *a, **kw)

    monkeypatch.setattr("hub_ext.isolation.cgroups.os.stat", fake_stat)
    rules = device_rules([1], range(6), lambda i: f"/dev/nvidia{i}")
    # GPUs 4 and 5 are in the inventory but have no node here: nothing to deny
    assert rules == ("c 195:0 rwm", "c 195:2 rwm", "c 195:3 rwm")
    assert device_rules([0, 1, 2, 3], range(4), lambda i: f"/dev/nvidia{i}") == ()


def test_secure_data_dir_fixes_modes(tmp_path):
    data = tmp_path / "data"
    (data / "homes" / "alice").mkdir(parents=True)
    (data / "envs" / "tf-123").mkdir(parents=True)
    (data / "secrets").mkdir()
    data.chmod(0o755)
    (data / "envs" / "tf-123").chmod(0o777)
    for name in ("hubfront.sqlite", "jupyterhub.sqlite", "jupyterhub_cookie_secret", "admin-password"):
        (data / name).write_text("x")
        (data / name).chmod(0o644)
    (data / "homes" / "alice").chmod(0o700)
    fixes = secure_data_dir(data)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(data) == 0o711
    assert mode(data / "homes") == 0o711 and mode(data / "envs") == 0o755
    assert mode(data / "envs" / "tf-123") == 0o755
    assert mode(data / "secrets") == 0o700
    assert all(mode(data / n) == 0o600 for n in ("hubfront.sqlite", "jupyterhub_cookie_secret", "admin-password"))
    assert mode(data / "homes" / "alice") == 0o700  # a home is its owner's business
    assert any("0755 -> 0711" in f for f in fixes)
    assert secure_data_dir(data) == []  # nothing left to fix


def test_unreachable_ancestor(tmp_path):
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    tmp_path.chmod(0o755)
    above = unreachable_ancestor(tmp_path)  # pytest's own temp tree may be closed already
    assert unreachable_ancestor(inner) == above
    (tmp_path / "a").chmod(0o700)
    blocked = unreachable_ancestor(inner)
    (tmp_path / "a").chmod(0o755)
    assert blocked == (above or tmp_path / "a")


def test_scrub_keeps_what_jupyterhub_passes_and_drops_hub_secrets():
    env = {"JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_CLIENT_ID": "c", "PATH": "/bin", "HUBFRONT_GROUP": "g",
           "HUBFRONT_ADMIN_PASSWORD": "p", "HUBFRONT_SECRET_KEY": "k", "CONFIGPROXY_AUTH_TOKEN": "x",
           "JUPYTERHUB_CRYPT_KEY": "y", "AWS_SECRET_ACCESS_KEY": "z", "HUBFRONT_DB_URL": "sqlite://"}
    assert Isolation.scrub(env) == {"JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_CLIENT_ID": "c", "PATH": "/bin",
                                    "HUBFRONT_GROUP": "g"}


def test_modes(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    auto = Isolation(isolate="auto", data_dir="/nonexistent")
    assert not auto.enabled
    assert auto.status().warnings == ["Workloads are not isolated: the hub runs without root privileges",
                                      SHARED_NETWORK]
    assert auto.account("alice", [], "/tmp/x") is None and auto.create_cgroup("notebook", "a/b", Limits()) is None
    never = Isolation(isolate="never", data_dir="/nonexistent")
    assert "turned off" in never.status().warnings[0]
    with pytest.raises(IsolationError, match="does not run as root"):
        Isolation(isolate="always", data_dir="/nonexistent").startup(None, [])
    # a hub whose notebooks are Kubernetes pods: the pods' securityContext isolates them, no banner
    kube = Isolation(isolate="auto", data_dir="/nonexistent")
    assert kube.startup(None, [], local=False).warnings == [] and kube.status().isolated
