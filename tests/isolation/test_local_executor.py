"""LocalExecutor on real processes: jobs as their users' OS accounts in their own cgroups (as root),
deadlines, stops, out-of-memory kills, capped logs and adoption by a new executor after a "restart".

Isolated tests need root (CI runs the suite as root); ``unisolated`` runs anywhere, as the hub's user.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import time

import psutil
import pytest

from hub_ext.isolation import Isolation
from hub_ext.services.executors.base import Handle, JobSpec
from hub_ext.services.executors.local import CGROUP_KIND, LocalExecutor
from hub_ext.services.executors.local_state import process_is
from support import ACCOUNT_PREFIX, let_workloads_pass, need

pytestmark = pytest.mark.isolation

_ids = iter(range(1000, 10**6))


def spec(command: str, username: str = "jobber", **kw) -> JobSpec:
    return JobSpec(job_id=next(_ids), username=username, group="research", groups=("research",), command=command, **kw)


def until_file(path) -> str:
    """A shell line that waits for ``path`` to appear (the test makes it; two minutes at most): a job that
    runs until the test has seen it running, however slow the machine."""
    return f"i=0; while [ ! -e {path} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done"


def make_executor(tmp_path, isolate: str, **kw) -> LocalExecutor:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    # the tests' scripts lie beside the data dir, under /tmp: workloads must still see them (keep_paths)
    iso = Isolation(isolate=isolate, account_prefix=ACCOUNT_PREFIX, data_dir=str(data), keep_paths=[str(tmp_path)])
    return LocalExecutor(isolation=iso, gpu_inventory=[], kill_grace=1.0, **kw)


@pytest.fixture
def isolated(tmp_path):
    need(os.geteuid() == 0, "isolation needs root (CI runs the suite as root)")
    let_workloads_pass(tmp_path)
    ex = make_executor(tmp_path, "always")
    need(ex.isolation.hierarchy is not None, f"no writable cgroup tree here: {ex.isolation.status().warnings}")
    return ex


@pytest.fixture
def unisolated(tmp_path):
    return make_executor(tmp_path, "never")


async def wait_done(ex, handle, timeout: float = 30):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        status = await ex.status(handle)
        if status.done:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"job still {status} after {timeout} s")


async def log_text(ex, handle) -> str:
    data, _ = await ex.logs(handle)
    return data.decode()


def pid_of(handle: Handle) -> int:
    return int(handle.ref.split(":")[0])


def leftovers(marker: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]


async def test_hello_succeeds_as_the_users_account_with_its_own_cgroup(isolated):
    s = spec(f"{sys.executable} -c \"import os; print('hi'); print('uid', os.getuid(), os.getcwd())\"; "
             "echo to-stderr >&2; cat /proc/self/cgroup; echo gpus=[$CUDA_VISIBLE_DEVICES]", gpu_devices=())
    handle = await isolated.start(s)
    assert handle.executor == "local"
    status = await wait_done(isolated, handle)
    log = await log_text(isolated, handle)
    assert status.phase == "Succeeded" and status.exit_code == 0, (status, log)
    account = isolated.isolation.account("jobber", ["research"], isolated.home("jobber"))
    home = isolated.home("jobber")
    assert "hi\n" in log and "to-stderr" in log and "gpus=[]" in log
    assert f"uid {account.uid} {home}/jobs/{s.job_id}" in log and account.uid != 0
    cgroup_name = Isolation.cgroup_name(CGROUP_KIND, str(s.job_id))
    assert cgroup_name in log  # it ran inside its own cgroup ...
    assert isolated.isolation.existing_cgroup(CGROUP_KIND, str(s.job_id)) is None  # ... removed at the end
    # the log is the hub's alone
    log_file = isolated.log_path(s.job_id)
    info = os.stat(log_file)
    assert info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(isolated.log_dir).st_mode) == 0o700


async def test_exit_code_fails_with_the_code(isolated):
    handle = await isolated.start(spec("echo before; exit 3"))
    status = await wait_done(isolated, handle)
    assert (status.phase, status.reason, status.exit_code) == ("Failed", "ExitCode", 3)
    assert "3" in status.message
    assert "before" in await log_text(isolated, handle)


async def test_deadline_terms_then_kills_the_whole_group(isolated):
    # the job ignores SIGTERM (and so does its child), so only the SIGKILL after the grace ends it
    handle = await isolated.start(spec("trap '' TERM; sleep 613 & sleep 614; wait", timeout=1.5))
    assert await isolated.adopt(handle)  # running
    start = time.monotonic()
    status = await wait_done(isolated, handle, timeout=20)
    took = time.monotonic() - start
    assert (status.phase, status.reason) == ("Failed", "DeadlineExceeded"), status
    assert "1.5 s" in status.message
    assert 1.5 + 0.9 <= took + 0.3 and took < 8, took  # timeout, then the 1 s grace
    assert not leftovers("sleep 613") and not leftovers("sleep 614")
    assert not psutil.pid_exists(pid_of(handle)) or psutil.Process(pid_of(handle)).status() == psutil.STATUS_ZOMBIE


async def test_stop_cancels(isolated):
    s = spec("echo started; sleep 615")
    handle = await isolated.start(s)
    until = time.monotonic() + 60
    while "started" not in await log_text(isolated, handle):  # running, its output on the way
        assert time.monotonic() < until, await isolated.status(handle)
        await asyncio.sleep(0.05)
    await isolated.stop(handle, grace=5)
    status = await isolated.status(handle)
    assert (status.phase, status.reason) == ("Cancelled", "Cancelled")
    assert not leftovers("sleep 615")
    assert "started" in await log_text(isolated, handle)
    assert isolated.isolation.existing_cgroup(CGROUP_KIND, str(s.job_id)) is None


async def test_memory_beyond_the_limit_is_oom_killed(isolated):
    code = "b = bytearray(600 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('sur' + 'vived')"
    s = spec(f"{sys.executable} -c '{code}'; echo shell-went-on", memory=128 * 2**20)
    handle = await isolated.start(s)
    status = await wait_done(isolated, handle, timeout=60)
    assert (status.phase, status.reason) == ("Failed", "OOMKilled"), (status, await log_text(isolated, handle))
    assert status.message == "Out of memory (limit 128 MiB)"
    assert "survived" not in await log_text(isolated, handle)
    assert isolated.isolation.existing_cgroup(CGROUP_KIND, str(s.job_id)) is None


async def test_log_cap_keeps_the_tail(isolated):
    isolated.log_cap = 4096
    s = spec("for i in $(seq 1 5000); do echo line-$i; done")
    handle = await isolated.start(s)
    status = await wait_done(isolated, handle)
    assert status.phase == "Succeeded", status
    data, offset = await isolated.logs(handle)
    total = sum(len(f"line-{i}\n") for i in range(1, 5001))
    assert offset == total  # offsets count everything the job wrote
    assert 3072 <= len(data) <= 4096 and os.path.getsize(isolated.log_path(s.job_id)) <= 4096
    assert data.endswith(b"line-4999\nline-5000\n") and data.startswith(b"line-") and b"line-1\n" not in data
    again, same = await isolated.logs(handle, offset - 10)
    assert again == b"line-5000\n" and same == offset
    assert (await isolated.logs(handle, offset)) == (b"", offset)


async def test_a_new_executor_adopts_a_running_job_and_sees_it_end(isolated, tmp_path):
    go = tmp_path / "go"
    handle = await isolated.start(spec(f"echo one; {until_file(go)}; echo two; exit 5"))
    restarted = make_executor(tmp_path, "always")  # the runner was restarted: nothing in memory
    pid, start = handle.ref.split(":")
    assert not await restarted.adopt(Handle("local", f"{pid}:{float(start) + 1!r}"))  # same pid, other process
    assert not await restarted.adopt(Handle("local", "garbage"))
    assert await restarted.adopt(handle)
    assert (await restarted.status(handle)).phase == "Running"
    go.touch()
    status = await wait_done(restarted, handle)
    assert (status.phase, status.reason, status.exit_code) == ("Failed", "ExitCode", 5)  # exit code still known
    assert (await log_text(restarted, handle)) == "one\ntwo\n"
    assert not await restarted.adopt(handle)  # it has ended
    wrong = await restarted.status(Handle("local", f"{pid}:{float(start) + 1!r}"))
    assert (wrong.phase, wrong.reason) == ("Failed", "ServiceRestart")


async def test_a_job_whose_keeper_vanished_fails_with_service_restart(isolated):
    s = spec("sleep 616")
    handle = await isolated.start(s)
    state = isolated._state(handle)
    os.kill(state["keeper"], 9)  # as a machine crash would leave it: no keeper, no outcome
    until = time.monotonic() + 30
    while process_is(state["keeper"], state["keeper_start"]):  # the kill takes effect when it is scheduled
        assert time.monotonic() < until, "the keeper outlived SIGKILL"
        await asyncio.sleep(0.05)
    assert not await isolated.adopt(handle)
    status = await isolated.status(handle)
    assert (status.phase, status.reason) == ("Failed", "ServiceRestart"), status
    assert not leftovers("sleep 616")
    assert isolated.isolation.existing_cgroup(CGROUP_KIND, str(s.job_id)) is None


async def test_unisolated_job_runs_as_the_hub_user_with_the_images_python(unisolated, tmp_path):
    venv_bin = tmp_path / "image" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(sys.executable)
    s = spec("echo $GREETING; command -v python; python -c 'import os; print(os.getuid())'",
             env={"GREETING": "hello"}, python=str(venv_bin / "python"))
    handle = await unisolated.start(s)
    status = await wait_done(unisolated, handle)
    log = await log_text(unisolated, handle)
    assert status.phase == "Succeeded", log
    assert log.splitlines() == ["hello", str(venv_bin / "python"), str(os.getuid())]
    await unisolated.forget(handle)
    assert not os.path.exists(unisolated.log_path(s.job_id))


RUNNER = """
import asyncio, os, sys
from hub_ext.isolation import Isolation
from hub_ext.services.executors.base import JobSpec
from hub_ext.services.executors.local import LocalExecutor

async def main():
    iso = Isolation(isolate="always", account_prefix=sys.argv[1], data_dir=sys.argv[2],
                    keep_paths=[os.path.dirname(sys.argv[2])])  # where the test lets the job end
    ex = LocalExecutor(isolation=iso, gpu_inventory=[])
    handle = await ex.start(JobSpec(job_id=int(sys.argv[3]), username="jobber", group="research",
                                    groups=("research",), command="echo before; " + sys.argv[4] + "; echo after"))
    print(handle.ref, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


async def test_a_job_outlives_a_killed_runner_and_is_adopted_with_its_output(isolated, tmp_path):
    """The runner (its own process here) is killed with SIGKILL mid-job: the job keeps printing and
    ends normally, and a new executor adopts it and reads its whole log and its exit status."""
    import subprocess

    job_id, go = next(_ids), tmp_path / "go"
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, ACCOUNT_PREFIX, isolated.isolation.data_dir, str(job_id),
                               until_file(go)], stdout=subprocess.PIPE, text=True)
    try:
        ref = runner.stdout.readline().strip()
    finally:
        runner.kill()
        runner.wait(10)
    assert ref, "the runner did not start the job"
    handle = Handle("local", ref)
    assert await isolated.adopt(handle)  # mid-job: it waits for the test to let it end
    go.touch()
    status = await wait_done(isolated, handle)
    assert status.phase == "Succeeded", (status, await log_text(isolated, handle))
    assert await log_text(isolated, handle) == "before\nafter\n"
    assert isolated.isolation.existing_cgroup(CGROUP_KIND, str(job_id)) is None
