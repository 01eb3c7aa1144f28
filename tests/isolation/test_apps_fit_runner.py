"""Apps that fit their instance type, on the runner's own path (real processes, as root; issue 24):

- MLflow installed at the size the Apps page's form picks by default on the shipped catalog and demo group
  policy serves its UI, takes 20 model registrations and 50 UI page loads, and is never restarted;
- an app that runs out of memory says so (its log, its row: the restarts in a row and the reason), and after
  ``max_restarts`` of them in a row the runner stops restarting it: Failed with the reason, its process
  gone, its reservation released, still so after a runner restart, until a group admin starts it again.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from bench.app_footprint import load_ui, register_models
from hub_ext.apps import sizing
from hub_ext.apps.records import executor_id
from hub_ext.apps.templates import AppTemplate
from hub_ext.policy import GroupPolicy, InstanceType, parse_catalog
from test_apps_runner import _chunks, rig  # noqa: F401 - the fixture, shared
from test_local_executor import isolated  # noqa: F401 - the fixture the rig needs

pytestmark = pytest.mark.isolation

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "hubfront.yaml"


def forms_default(template: AppTemplate) -> InstanceType:
    """What the Apps page's install form picks for ``template`` on the shipped catalog, for a group whose default
    is the shipped demo groups' (cpu-small)."""
    shipped = yaml.safe_load(SHIPPED.read_text())
    policy = GroupPolicy(**next(iter(shipped["groups"].values()))["policy"])
    return sizing.default_for(template, policy, parse_catalog(shipped["catalog"]))


async def test_mlflow_at_the_forms_default_size_takes_registrations_and_page_loads_without_a_restart(rig):  # noqa: F811
    template = rig.template_named("mlflow")
    size = forms_default(template)
    assert size.name == "cpu-small" and not template.too_small(size)  # the group's default holds it now
    await rig.executor.close()  # nothing started yet: a runner that gives MLflow's import time to finish
    rig.runner = rig.new_runner(start_timeout=240.0, check_interval=0.5, check_timeout=5.0, failure_threshold=5)
    row = await rig.until(rig.install("tracking", template="mlflow", instance_type=size).id, "Running", timeout=240)
    assert (row.cpu, row.memory) == (0.5, 2**30)
    versions = await asyncio.to_thread(register_models, row.endpoint, 20, "fit")
    assert versions == [f"models:/fit-{i}/1" for i in range(20)]
    served = await asyncio.to_thread(load_ui, row.endpoint, 50)
    assert served > 50 * 100_000  # its page and its scripts, each time
    row = await rig.until(row.id, "Running")
    replica = rig.executor.replicas(executor_id(row))[0]
    assert replica["restarts"] == 0 and row.restarts == 0 and row.restart_reason == ""
    assert row.message == ""  # "Running" is said once, by its phase
    assert "Out of memory" not in b"".join(c.data for c in _chunks(rig, row.id)).decode()


GREEDY = """
import http.server, os, threading, time
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("serving; eating memory next", flush=True)
time.sleep(1.5)  # long enough to pass a health check first: it is Running, then runs out of memory
hoard = []
while True:
    hoard.append(bytearray(16 * 2**20))
    time.sleep(0.01)
"""
TINY = InstanceType(name="tiny", cpu=1, memory=96 * 2**20)


def pids_of(script: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline"]) if script in " ".join(p.info["cmdline"] or [])]


async def test_an_app_out_of_memory_says_so_and_is_no_longer_restarted_after_max_restarts(rig, tmp_path):  # noqa: F811
    script = tmp_path / "greedy.py"
    script.write_text(GREEDY)
    script.chmod(0o644)
    rig.template = AppTemplate(name="tiny", display_name="Greedy", health_path="/",
                               local={"command": f"mkdir -p {{data}} && cd {{data}} && "
                                                 f"exec {sys.executable} {script}"})
    await rig.executor.close()
    rig.runner = rig.new_runner(backoff_reset=600.0)
    rig.runner.max_restarts = 3
    row = rig.install("greedy", instance_type=TINY)
    seen, deadline = [], time.monotonic() + 90
    while (row := rig.row(row.id)).phase != "Failed":
        assert time.monotonic() < deadline, f"still {row.phase}: {row.message}"
        await rig.runner.reconcile(rig.groups)
        if row.restarts:
            seen.append((row.phase, row.restarts, row.message))
        await asyncio.sleep(0.1)
    # on its way: the restarts in a row and why, with what to do
    note = "Out of memory (limit 96 MiB): restarted {} — choose a larger instance type"
    assert any(m == note.format("once") for _, n, m in seen if n == 1), seen
    assert all(m.startswith("Out of memory (limit 96 MiB): restarted ") for _, _, m in seen if m), seen
    # given up: Failed with the reason and what to do; nothing runs, nothing is held
    assert (row.reason, row.restarts, row.restart_reason) == ("OOMKilled", 3, "OOMKilled")
    assert row.restart_message == "Out of memory (limit 96 MiB)"
    assert row.message == (note.format("3 times") + ". No longer restarted: change its instance type in Settings, "
                                                     "then Start it again.")
    body = rig.store.as_json(row, None, rig.template)
    assert (body["restarts"], body["last_restart_reason"]) == (3, "OOMKilled")
    assert body["last_restart_message"] == "Out of memory (limit 96 MiB)" and body["phase"] == "Failed"
    log = b"".join(c.data for c in _chunks(rig, row.id)).decode()
    assert "[Out of memory (limit 96 MiB): restart 1 in a row, in 0.2 s — choose a larger instance type]" in log
    assert f"[{row.message}]" in log
    assert rig.held() == [] and row.endpoint == "" and pids_of(str(script)) == []
    # it stays so: more passes, and a new runner, do not start it again
    for _ in range(5):
        await rig.runner.reconcile(rig.groups)
        await asyncio.sleep(0.2)
    await rig.executor.close()
    rig.runner = rig.new_runner(backoff_reset=600.0)
    rig.runner.max_restarts = 3
    await rig.runner.startup(rig.groups)
    for _ in range(5):
        await rig.runner.reconcile(rig.groups)
        await asyncio.sleep(0.2)
    assert rig.row(row.id).phase == "Failed" and pids_of(str(script)) == [] and rig.held() == []
    # a group admin starts it again: counted from 0, it runs (and runs out of memory again)
    rig.store.start(rig.row(row.id), "admin")
    assert rig.row(row.id).restarts == 0
    row = await rig.until(row.id, "Running", timeout=30)
    assert [r.workload_id for r in rig.held()] == [f"{row.id}@1"]
