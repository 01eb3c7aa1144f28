"""Git dataset syncs as root with real accounts, cgroups and servers: git runs as the dataset's group's
service account, in a cgroup of its own, with no_new_privs and the group's own known_hosts; a group
whose ssh remote hangs (a listener on this machine's non-loopback address that accepts and never
answers) holds up no other group, whose dataset syncs from a git daemon meanwhile; the hung sync's
deadline kills it, leaving no process behind; what a killed runner's sync left running is stopped at the
next start."""

from __future__ import annotations

import asyncio
import os
import pwd
import stat
import subprocess
import time

import pytest
from sqlalchemy import update

from hub_ext.datasets.records import REPO, dataset_dir
from hub_ext.datasets.requests import DatasetCreate
from hub_ext.datasets.settings import Datasets
from hub_ext.datasets.store import DatasetStore
from hub_ext.isolation import Isolation
from hub_ext.services.dataset_sync import CGROUP_KIND, follow, recover
from hub_ext.store import session_scope
from hub_ext.store.engine import read_scope
from hub_ext.store.models_storage import Dataset
from support import ACCOUNT_PREFIX, bare_repository, git, let_workloads_pass, need
from support_git import git_daemon, hanging_listener, non_loopback_address

pytestmark = pytest.mark.isolation
KEY = b"y3Jb1K7bQ2q0aXw5o2wq1iV7bQ0m3rJm6tQy8c1Zq9E="
DEADLINE = 10  # seconds a sync may take here (Datasets.git_timeout): the hung one is stopped then


def status(db_url: str, name: str) -> tuple[str, str]:
    with read_scope(db_url) as s:
        row = s.get(Dataset, name)
        return row.sync_status, row.sync_message


def proc_status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {}


def pids_of(uid: int) -> list[int]:
    """Processes of ``uid`` still running (a zombie is dead: it only waits for init to reap it)."""
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        info = proc_status(pid)
        if info.get("Uid", "").split("\t")[:1] == [str(uid)] and not info.get("State", "").startswith("Z"):
            found.append(pid)
    return found


async def until(condition, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@pytest.fixture
def rig(tmp_path, sqlite_url):
    need(os.geteuid() == 0, "git syncs as service accounts need root and real accounts (CI runs as root)")
    let_workloads_pass(tmp_path)
    data = tmp_path / "data"
    data.mkdir(mode=0o711)
    iso = Isolation(isolate="always", account_prefix=ACCOUNT_PREFIX, data_dir=str(data))
    need(iso.hierarchy is not None, "cgroups are not available here")
    return DatasetStore(sqlite_url, str(data), KEY, gid_of=iso.unix_gid), data, iso


def test_a_hung_groups_sync_holds_up_no_other_group_and_runs_as_its_service_account(rig, tmp_path):
    store, data, iso = rig
    address = non_loopback_address()
    served = tmp_path / "served"
    served.mkdir()
    bare, work = bare_repository(served, "from b\n")
    settings = Datasets(git_timeout=DEADLINE, sync_poll=0.2)
    seen: dict = {}

    with hanging_listener(address) as (hang_port, accepted), git_daemon(served, address) as daemon_port:
        hung = store.create(DatasetCreate(name="gsi-hung", kind="git",
                                          git_url=f"ssh://git@{address}:{hang_port}/x.git"), "gsi-a", "gsi-alice")
        served_row = store.create(DatasetCreate(name="gsi-served", kind="git",
                                                git_url=f"git://{address}:{daemon_port}/origin.git"),
                                  "gsi-b", "gsi-bob")
        account = pwd.getpwuid(iso.service_account("gsi-a").uid)  # the account group a's apps run as

        def hung_processes() -> list[int]:
            cgroup = iso.existing_cgroup(CGROUP_KIND, hung.name)
            return cgroup.pids() if cgroup is not None else []

        async def scenario():
            task = asyncio.create_task(follow(store.db_url, str(data), settings, isolation=iso))
            try:
                started = time.monotonic()
                # group a's ssh connected to the listener and waits for an answer that never comes
                await until(lambda: accepted and any(proc_status(p).get("Name") == "ssh" for p in hung_processes()),
                            what="group a's ssh to connect")
                for pid in hung_processes():
                    info = proc_status(pid)
                    seen.setdefault("uids", set()).add(info["Uid"].split("\t")[0])
                    seen.setdefault("nnp", set()).add(info.get("NoNewPrivs"))
                    if info.get("Name") == "ssh":
                        seen["ssh"] = open(f"/proc/{pid}/cmdline").read().split("\0")
                # group b's dataset syncs meanwhile, while group a's is still held
                await until(lambda: status(store.db_url, served_row.name)[0] in ("Synced", "Failed"),
                            what="group b's sync")
                seen["b"] = status(store.db_url, served_row.name)
                seen["a_while_b_done"] = status(store.db_url, hung.name)[0]
                seen["b_took"] = time.monotonic() - started
                await until(lambda: status(store.db_url, hung.name)[0] == "Failed", timeout=DEADLINE * 3,
                            what="group a's deadline")
                seen["a"] = status(store.db_url, hung.name)
                seen["a_took"] = time.monotonic() - started
            finally:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass

        asyncio.run(scenario())

    assert seen["b"][0] == "Synced", seen["b"]
    assert seen["a_while_b_done"] == "Syncing" and seen["b_took"] < DEADLINE
    assert seen["a"][1] == f"git clone took longer than {DEADLINE} s and was stopped", seen["a"]
    assert seen["a_took"] >= DEADLINE * 0.9

    # git ran as group a's service account, never root, with no_new_privs, in a cgroup of its own
    assert seen["uids"] == {str(account.pw_uid)}
    assert seen["nnp"] == {"1"}
    known = os.path.join(iso.service_home("gsi-a"), ".ssh", "known_hosts")
    assert f"UserKnownHostsFile={known}" in seen["ssh"] and seen["ssh"][1:3] == ["-F", "/dev/null"]
    ssh_dir = os.stat(os.path.dirname(known))
    assert ssh_dir.st_uid == account.pw_uid and stat.S_IMODE(ssh_dir.st_mode) == 0o700

    # the deadline left nothing running: no cgroup, no process of the account
    assert iso.existing_cgroup(CGROUP_KIND, hung.name) is None
    assert pids_of(account.pw_uid) == []
    assert not (dataset_dir(data, hung.name) / f".{REPO}.partial").exists()

    # group b's clone: handed over to root, read-only for everyone, its commit recorded
    repo = dataset_dir(data, served_row.name) / REPO
    readme = repo / "README.md"
    assert readme.read_text() == "from b\n"
    assert (readme.stat().st_uid, stat.S_IMODE(readme.stat().st_mode)) == (0, 0o444)
    assert (repo.stat().st_uid, stat.S_IMODE(repo.stat().st_mode)) == (0, 0o555)
    with read_scope(store.db_url) as s:
        assert s.get(Dataset, served_row.name).commit == git("rev-parse", "HEAD", cwd=work)


def test_a_sync_left_by_a_killed_runner_is_stopped_and_asked_again(rig):
    store, data, iso = rig
    row = store.create(DatasetCreate(name="gsi-left", kind="git", git_url="https://example.org/r.git"),
                       "gsi-c", "gsi-carol")
    with session_scope(store.db_url) as s:  # the runner that claimed it was killed mid-sync
        s.execute(update(Dataset).where(Dataset.name == row.name).values(sync_status="Syncing",
                                                                       sync_requested=False))
    account = iso.service_account("gsi-c")
    cgroup = iso.create_cgroup(CGROUP_KIND, row.name, iso.limits(memory=None, cpu=None))
    left = subprocess.Popen(["sleep", "300"], preexec_fn=iso.preexec(account, cgroup, account.home),
                            start_new_session=True)  # its git, which no deadline watches any more
    try:
        recover(store.db_url, iso)
        assert left.wait(30) == -9  # stopped with its cgroup
        assert iso.existing_cgroup(CGROUP_KIND, row.name) is None
        with read_scope(store.db_url) as s:
            again = s.get(Dataset, row.name)
            assert (again.sync_status, again.sync_requested) == ("Waiting", True)
    finally:
        if left.poll() is None:
            left.kill()
            left.wait(10)
