"""Joining a cgroup kept fast while workloads start (hub_ext.isolation.cgroup_warmth): the warming moves this
process's own thread only where it already is, a workload started meanwhile still lands in its own cgroup,
and without a cgroup file it may write, it does nothing (how much faster starts get is measured by
``make bench``'s job-latency, not here)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hub_ext.isolation.cgroup_warmth import Warmth, own_file
from hub_ext.isolation.cgroups import Limits

pytestmark = pytest.mark.isolation

V1 = "12:pids:/user.slice/x\n11:cpu,cpuacct:/user.slice\n1:name=systemd:/init.scope\n0::/init.scope\n"


def test_the_file_is_where_this_process_already_is():
    assert own_file(1, Path("/sys/fs/cgroup/pids"), V1) == Path("/sys/fs/cgroup/pids/user.slice/x/tasks")
    assert own_file(1, Path("/sys/fs/cgroup/cpu"), V1) == Path("/sys/fs/cgroup/cpu/user.slice/tasks")
    assert own_file(2, Path("/sys/fs/cgroup"), "0::/hub.slice/runner\n") == Path("/sys/fs/cgroup/hub.slice/runner/cgroup.procs")
    assert own_file(1, Path("/sys/fs/cgroup/memory"), V1) is None  # not in that tree: nothing to write


def test_without_a_file_it_may_write_a_start_simply_waits_as_before(tmp_path):
    nowhere = Warmth(1, tmp_path / "no-such-controller")  # this process is in no cgroup of that tree
    with nowhere.kept():  # no tree: nothing started, nothing raised
        pass
    assert nowhere._thread is None
    refused = Warmth(1, tmp_path / "memory")
    refused._file = tmp_path  # a directory: the first write fails
    with refused.kept():
        for _ in range(200):
            if refused._file is None:
                break
            time.sleep(0.01)
    assert refused._file is None  # it gave up, quietly
    with refused.kept():
        pass


def test_a_workload_started_while_joins_are_kept_fast_lands_in_its_cgroup_and_nothing_else_moves(isolation, tmp_path):
    before = Path("/proc/self/cgroup").read_text()
    cgroup = isolation.create_cgroup("job", f"warmth-{os.getpid()}", Limits(memory=256 * 2**20))
    try:
        with isolation.starting(), isolation.starting():  # overlapping starts (two jobs at once)
            assert any(t.name == "cgroup-warmth" and t.is_alive() for t in threading.enumerate())
            time.sleep(0.05)  # it has moved this thread where it was, many times by now
            child = subprocess.run([sys.executable, "-c", "print(open('/proc/self/cgroup').read())"],
                                   preexec_fn=isolation.preexec(None, cgroup, str(tmp_path)),
                                   capture_output=True, text=True, timeout=60)
        assert child.returncode == 0, child.stderr
        assert any(line.endswith(f"/{cgroup.name}") for line in child.stdout.splitlines()), child.stdout
        assert Path("/proc/self/cgroup").read_text() == before  # the hub's own threads stayed where they were
    finally:
        cgroup.remove()
