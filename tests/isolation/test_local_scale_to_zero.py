"""LocalDeployments scaled to zero and back on real processes (issue 25): the revision that serves, applied
again with 0 replicas, ends its replicas (processes and cgroups gone) and stays known, in memory and in
its state file, so that a new runner adopts it at zero without starting anything, and the same revision
applied with its replicas starts them anew (with the devices given then)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub_ext.services.executors.local_deployments import LocalDeployments
from test_local_deployments import (FAST, _names, cgroups_of, deployments, get, pids, ready, running,  # noqa: F401
                                    server, spec, until)
from test_local_executor import isolated, make_executor  # noqa: F401 - the fixtures, shared

pytestmark = pytest.mark.isolation


async def test_the_serving_revision_goes_to_zero_replicas_and_back(deployments, server, tmp_path):  # noqa: F811
    ex, name = deployments, next(_names)
    s = spec(server, name, env={"GREETING": "warm"})
    await ex.apply(s)
    await ready(ex, name)
    before = pids(ex, name)

    await ex.apply(replace(s, replicas=0, gpu_devices=()))
    await until(lambda: not any(running(pid) for pid in before), 30, "the replicas ended")
    await until(lambda: cgroups_of(ex, name) == [], 30, "their cgroups removed")
    status = await ex.status(name)
    assert (status.revision, status.available, status.desired, status.endpoints) == (1, 0, 0, ())
    assert ex.replicas(name) == []

    # a new runner finds it at zero: adopted, nothing started
    other = LocalDeployments(executor=make_executor(tmp_path, "always"), **FAST)
    try:
        assert await other.adopt(s)
        assert other.replicas(name) == [] and (await other.status(name)).available == 0
    finally:
        await other.close()

    # woken: the same revision with its replicas, new processes, new devices
    await ex.apply(replace(s, gpu_devices=((3,), (4,))))
    status = await ready(ex, name)
    after = pids(ex, name)
    assert len(after) == 2 and not set(after) & set(before)
    answers = sorted([await get(url + "/") for url in status.endpoints])
    assert [a.split()[2] for a in answers] == ["gpus=3", "gpus=4"]
    assert all(a.endswith("greeting=warm") for a in answers)
