"""Each workload's own sandbox on real processes (as root): jobs, deployment replicas, apps and builds run
with ``no_new_privs``, their own /tmp and /dev/shm, a /proc listing only their account's processes, and
member trees mounted nosuid; the data dir under /tmp (as here) still works, and nothing stays mounted on
the host. (Notebooks, kernels and terminals: tests/e2e/test_isolation_e2e.py.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub_ext.keys import load_key
from hub_ext.isolation.hardening import PROTECTED_SYSCTLS, protect_links
from hub_ext.services.executors.base import ExecutorError
from hub_ext.storage.mounts import MountSource
from hub_ext.store import upgrade
from hub_ext.images.environments import EnvironmentBuilder
from support import host_mounts, need
from test_local_deployments import FAST, ready, server  # noqa: F401 - the fixture, shared
from test_local_deployments import spec as deployment_spec
from test_local_executor import isolated, log_text, pid_of, spec, wait_done  # noqa: F401 - the fixture, shared

pytestmark = pytest.mark.isolation

PLANTED = f"planted-{os.getpid()}"  # a name nobody else uses on this machine
SHOW = ("grep NoNewPrivs /proc/self/status; "
        f"for p in /tmp/{PLANTED} /dev/shm/{PLANTED}; do if [ -e $p ] || [ -L $p ]; then echo SEEN $p; "
        "else echo UNSEEN $p; fi; done")


def no_new_privs(pid: int) -> str:
    with open(f"/proc/{pid}/status") as f:
        return next(line.split()[1] for line in f if line.startswith("NoNewPrivs:"))


def mount_of(pid: int, target: str) -> tuple[str, str]:
    """(file system type, options) of the last mount on ``target`` as process ``pid`` sees it."""
    found = ("", "")
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ")
            fields = left.split()
            if fields[4] == target:
                found = (right.split()[0], fields[5])
    return found


async def until_logged(ex, handle, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = await log_text(ex, handle)
        if text in log:
            return log
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} not in the log: {log!r}")


async def run_job(ex, command: str, username: str) -> tuple[str, str]:
    handle = await ex.start(spec(command, username=username))
    status = await wait_done(ex, handle, timeout=60)
    return status.phase, await log_text(ex, handle)


async def test_a_jobs_tmp_shm_and_processes_are_its_own(isolated):
    ex, before = isolated, host_mounts()
    planter = await ex.start(spec(f"ln -s /etc/hostname /tmp/{PLANTED} && ln -s /etc/hostname /dev/shm/{PLANTED} && "
                                  "echo planted; exec sleep 60", username="tenant-a"))
    try:
        await until_logged(ex, planter, "planted")
        a_pid = pid_of(planter)
        assert not os.path.lexists(f"/tmp/{PLANTED}") and not os.path.lexists(f"/dev/shm/{PLANTED}")  # not on the host
        assert host_mounts() == before  # nothing of the job's namespace shows on the host
        assert mount_of(a_pid, "/tmp")[0] == "tmpfs" and "nosuid" in mount_of(a_pid, "/tmp")[1]
        assert no_new_privs(a_pid) == "1"
        probe = (f"{SHOW}; if [ -d /proc/{a_pid} ]; then echo PLANTER-VISIBLE; else echo PLANTER-HIDDEN; fi; "
                 "echo uid=$(id -u); stat -c %u /proc/[0-9]* | sort -u")
        phase, other = await run_job(ex, probe, "tenant-b")  # another tenant, at the same time
        assert phase == "Succeeded", other
        assert "NoNewPrivs:\t1" in other and f"UNSEEN /tmp/{PLANTED}" in other and f"UNSEEN /dev/shm/{PLANTED}" in other
        assert "PLANTER-HIDDEN" in other
        uid, *owners = other.split("PLANTER-HIDDEN")[1].split()
        assert owners == [uid.removeprefix("uid=")] != ["0"], other  # its own processes only
        phase, same = await run_job(ex, SHOW, "tenant-a")  # the same user's next job: its own /tmp too
        assert phase == "Succeeded" and f"UNSEEN /tmp/{PLANTED}" in same and f"UNSEEN /dev/shm/{PLANTED}" in same, same
    finally:
        await ex.stop(planter, 1)
    await wait_done(ex, planter)
    assert host_mounts() == before  # and nothing is left mounted when it ends


async def test_the_data_dir_under_tmp_still_works(isolated, tmp_path):
    ex = isolated
    data = ex.isolation.data_dir
    assert data.startswith("/tmp/")  # as the tests put it: the case to prove
    db_url = f"sqlite:///{tmp_path}/portal.sqlite"
    upgrade(db_url)
    ex.mounts = MountSource(db_url, data, ex.isolation, load_key("", str(tmp_path)))
    umask = os.umask(0o077)  # a runner started with a strict umask (systemd's UMask=0077)
    try:
        phase, log = await run_job(ex, "echo result > result.txt && echo shared > ~/shared/from-job.txt && "
                                        "pwd && cat result.txt", "tenant-c")
    finally:
        os.umask(umask)
    assert phase == "Succeeded", log
    workdir = log.split()[0]
    assert workdir.startswith(f"{data}/homes/tenant-c/jobs/")
    assert Path(workdir, "result.txt").read_text() == "result\n"  # written through to the host
    assert (Path(data) / "groups" / "research" / "from-job.txt").read_text() == "shared\n"


async def test_a_setuid_root_binary_in_a_member_tree_gives_no_root(isolated):
    ex = isolated
    home = Path(ex.home("tenant-d"))
    phase, log = await run_job(ex, "true", "tenant-d")  # makes the account and its home
    assert phase == "Succeeded", log
    planted = home / "suid-python"
    shutil.copy(os.path.realpath(sys.executable), planted)  # by root, as a race in a shared tree would
    os.chown(planted, 0, 0)
    os.chmod(planted, 0o4755)
    try:
        phase, log = await run_job(ex, f"{planted} -c 'import os; print(\"euid\", os.geteuid())'; "
                                       f"grep ' {ex.isolation.data_dir} ' /proc/self/mountinfo | tail -1", "tenant-d")
        assert phase == "Succeeded", log
        euid = int(log.split("euid")[1].split()[0])
        assert euid != 0, log
        assert "nosuid" in log.split("\n")[1] and "nodev" in log.split("\n")[1]  # and the tree is nosuid
    finally:
        planted.unlink()


async def test_replicas_have_no_new_privs_and_their_own_tmp(isolated, server):  # noqa: F811
    from hub_ext.services.executors.local_deployments import LocalDeployments

    ex = LocalDeployments(executor=isolated, **FAST)
    try:
        await ex.apply(deployment_spec(server, "sandboxed"))
        await ready(ex, "sandboxed")
        replicas = [int(r["ref"].split(":")[0]) for r in ex.replicas("sandboxed") if r["ref"]]
        assert len(replicas) == 2
        for pid in replicas:
            assert no_new_privs(pid) == "1"
            assert mount_of(pid, "/tmp")[0] == "tmpfs" and mount_of(pid, "/dev/shm")[0] == "tmpfs"
            assert "hidepid=invisible" in open(f"/proc/{pid}/mountinfo").read()
        # each replica's /tmp is its own: two tmpfs, not one
        assert len({os.stat(f"/proc/{pid}/root/tmp").st_dev for pid in replicas}) == 2
    finally:
        await ex.stop("sandboxed")
        await ex.close()


async def test_apps_have_no_new_privs(tmp_path, isolated):  # noqa: F811
    from test_apps_runner import Rig, process_of

    rig = Rig(tmp_path, isolated)
    try:
        row = rig.install()
        await rig.until(row.id, "Running")
        app = process_of(row.id)
        assert no_new_privs(app.pid) == "1" and mount_of(app.pid, "/tmp")[0] == "tmpfs"
    finally:
        for row in rig.store.list("research"):
            from hub_ext.apps.records import executor_id

            await rig.executor.stop(executor_id(row))
        await rig.executor.close()


async def test_builds_run_with_no_new_privs_in_their_own_tmp(isolated, tmp_path):
    Path("/tmp/planted-for-builds").touch()
    try:
        builder = EnvironmentBuilder(tmp_path / "envs", isolation=isolated.isolation)
        lines: list[str] = []
        # every build step (venv, pip, npm, a setup script) runs through _steps
        await builder._steps("probe", tmp_path / "envs" / "probe", [[
            "/bin/sh", "-c", "grep NoNewPrivs /proc/self/status; ls -A /tmp; touch /tmp/from-build; id -u"]],
            lines.append)
    finally:
        os.unlink("/tmp/planted-for-builds")
    assert "NoNewPrivs:\t1" in lines and "0" in lines  # as the hub's account (root), without privilege gains
    assert "planted-for-builds" not in " ".join(lines) and not os.path.exists("/tmp/from-build")


def test_link_protections_are_set_at_start(tmp_path):
    need(os.geteuid() == 0, "setting sysctls needs root (CI runs the suite as root)")
    fixes, warnings = protect_links()
    if warnings:  # a container's read-only /proc/sys: then each is a warning that says how to fix it
        assert all("sysctl -w" in w or "could not be read" in w for w in warnings), warnings
        return
    for name, wanted in PROTECTED_SYSCTLS.items():
        assert int(Path("/proc/sys", *name.split(".")).read_text()) >= wanted, fixes


def test_link_protections_that_cannot_be_set_are_warned_about(tmp_path):
    need(os.geteuid() == 0, "mounting a read-only tree needs root (CI runs the suite as root)")
    fake = tmp_path / "sys"
    fake.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(fake)], check=True)
    try:
        (fake / "fs").mkdir()
        for name in PROTECTED_SYSCTLS:
            (fake / "fs" / name.split(".")[1]).write_text("0\n")
        subprocess.run(["mount", "-o", "remount,ro", str(fake)], check=True)
        fixes, warnings = protect_links(str(fake))
    finally:
        subprocess.run(["umount", str(fake)], check=True)
    assert fixes == [] and len(warnings) == len(PROTECTED_SYSCTLS)
    assert "fs.protected_symlinks is 0 and could not be set" in warnings[0]
    assert "sysctl -w fs.protected_symlinks=1" in warnings[0]


async def test_a_sandbox_that_cannot_be_made_never_starts_the_workload(isolated):
    ex = isolated
    ex.isolation._trait_values["tmp_size"] = "lots"  # past the check an operator's value gets: the kernel refuses
    phase, log = await run_job(ex, "echo RAN-UNCONFINED", "tenant-e")  # the job fails, saying why
    assert phase == "Failed" and "RAN-UNCONFINED" not in log
    assert "could not start" in log and "mount tmpfs on /tmp" in log, log
    # the hub's start-up check says it once (log, admin banner), then workloads refuse before starting
    status = ex.isolation.startup(logging.getLogger("test"), [sys.prefix, sys.executable])
    said = [w for w in status.warnings if w.startswith("Workloads cannot be sandboxed here")]
    assert len(said) == 1 and "mount tmpfs on /tmp: Invalid argument" in said[0], status.warnings
    with pytest.raises(ExecutorError, match="could not be isolated: Workloads cannot be sandboxed here"):
        await ex.start(spec("echo RAN-UNCONFINED", username="tenant-e"))
