"""LocalDeployments on real processes: replicas of a tiny HTTP server as their owner's OS account in
cgroups of their own (as root), health checks, restarts, a roll-out without downtime, failing
revisions (crash loop, never healthy), stop, and adoption by a new executor after a "restart".
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import stat
import sys
import time
import urllib.request

import psutil
import pytest

from hub_ext.isolation import Isolation
from hub_ext.services.executors.deployments import DeploymentSpec
from hub_ext.services.executors.local_deployments import KIND, LocalDeployments
from support import let_workloads_pass
from test_local_executor import isolated, make_executor  # noqa: F401 - the fixture, shared

pytestmark = pytest.mark.isolation

SERVER = """
import http.server, os, sys

version, mode = sys.argv[1], sys.argv[2]
print(f"serving {version} on {os.environ['PORT']}", flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        sick = mode == "unhealthy" or os.path.exists("sick")  # in its working directory
        code = 503 if sick and self.path.split("?")[0] == "/health" else 200  # routed by path, as servers do
        body = " ".join([version, f"uid={os.getuid()}", f"gpus={os.environ['CUDA_VISIBLE_DEVICES']}",
                         f"replica={os.environ['HUBFRONT_REPLICA']}", f"greeting={os.environ.get('GREETING')}"])
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
"""

_names = (f"model{i}" for i in itertools.count(1))
FAST = dict(check_interval=0.1, check_timeout=1.0, failure_threshold=2, backoff_base=0.2, backoff_max=1.0,
            crash_loop_exits=3, start_timeout=20.0, drain_seconds=0.5, stop_grace=2.0)


@pytest.fixture
def server(tmp_path) -> str:
    """The server script, where the workload accounts can read it."""
    path = tmp_path / "serve.py"
    path.write_text(SERVER)
    path.chmod(0o644)
    let_workloads_pass(tmp_path)
    return str(path)


@pytest.fixture
async def deployments(isolated):  # noqa: F811
    ex = LocalDeployments(executor=isolated, **FAST)
    yield ex
    for deployment_id in list(ex._deployments):
        await ex.stop(deployment_id)
    await ex.close()


def spec(server: str, deployment_id: str, revision: int = 1, version: str = "v1", mode: str = "ok", **kw):
    kw.setdefault("command", f"{sys.executable} {server} {version} {mode}")
    return DeploymentSpec(deployment_id=deployment_id, revision=revision, username="modeller", group="research",
                          groups=("research",), replicas=2, health_path="/health", **kw)


async def until(check, timeout: float = 30, what: str = ""):
    """The first true value of ``check()`` (a function or a coroutine function), polled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        value = await value if asyncio.iscoroutine(value) else value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


async def ready(ex: LocalDeployments, deployment_id: str, revision: int = 1, n: int = 2):
    async def check():
        status = await ex.status(deployment_id)
        return status if status.revision == revision and status.available == n and status.rolled_out else None

    return await until(check, what=f"{deployment_id} revision {revision} with {n} ready")


async def get(url: str) -> str:
    return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=3).read().decode())


def pids(ex: LocalDeployments, deployment_id: str, revision: int | None = None) -> list[int]:
    return [int(r["ref"].split(":")[0]) for r in ex.replicas(deployment_id)
            if r["ref"] and revision in (None, r["revision"])]


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def cgroups_of(ex: LocalDeployments, deployment_id: str) -> list[str]:
    hierarchy = ex.executor.isolation.hierarchy
    return [n for n in hierarchy.names() if n.startswith(f"{KIND}-{deployment_id}-")]


async def test_replicas_serve_as_the_owners_account_each_in_its_own_cgroup_then_stop(deployments, server):
    ex, name = deployments, next(_names)
    await ex.apply(spec(server, name, env={"GREETING": "hello-s3cret"}, gpu_devices=((0,), (1,))))
    status = await ready(ex, name)
    assert (status.desired, status.failed, len(status.endpoints)) == (2, "", 2)
    assert 0 < status.checked <= time.monotonic()
    account = ex.executor.isolation.account("modeller", ["research"], ex.executor.home("modeller"))
    answers = sorted([await get(url + "/") for url in status.endpoints])
    assert answers == [f"v1 uid={account.uid} gpus={i} replica={i} greeting=hello-s3cret" for i in (0, 1)]
    for replica, pid in zip(ex.replicas(name), pids(ex, name)):
        assert psutil.Process(pid).uids().real == account.uid != 0
        cgroup = Isolation.cgroup_name(KIND, replica["name"])
        assert cgroup in open(f"/proc/{pid}/cgroup").read()
    assert len(cgroups_of(ex, name)) == 2
    # what a new runner needs is on disk, hub-only, without the environment (it may hold secrets)
    state_file = os.path.join(ex.state_dir, f"{name}.json")
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600 and stat.S_IMODE(os.stat(ex.state_dir).st_mode) == 0o700
    assert "s3cret" not in open(state_file).read()

    log, offset = await ex.logs(name)
    assert f"==> {name}-r1-0 <==\nserving v1" in log.decode() and f"==> {name}-r1-1 <==" in log.decode()
    assert (await ex.logs(name, offset)) == (b"", offset)  # an append-only stream, read on from an offset

    running_pids = pids(ex, name)
    await ex.stop(name)
    assert not any(running(pid) for pid in running_pids)
    assert cgroups_of(ex, name) == []
    status = await ex.status(name)
    assert (status.revision, status.available, status.endpoints) == (0, 0, ())
    assert (await ex.logs(name, offset))[1] >= offset  # its last output can still be read
    assert not os.path.exists(state_file) and not os.listdir(ex.state_dir)


async def test_health_checks_stay_out_of_the_log_and_requests_stay_in_it(deployments):
    """Issue 24: a server that logs every request (Python's http.server) is checked ten times a second here;
    the log holds the requests people made and none of the checks (executors.health_checks)."""
    ex, name = deployments, next(_names)
    await ex.apply(DeploymentSpec(deployment_id=name, revision=1, username="modeller", group="research",
                                  groups=("research",), replicas=1, health_path="/",
                                  command=f'exec {sys.executable} -m http.server --bind "$HOST" "$PORT"'))
    status = await ready(ex, name, n=1)
    await asyncio.sleep(2)  # some 20 health checks
    for n in range(3):
        await get(f"{status.endpoints[0]}/?someone-asked={n}")
    text = (await until(lambda: _logged(ex, name, "someone-asked=2"), what="the requests in the log")).decode()
    requests = [line for line in text.splitlines() if '"GET ' in line]
    assert [line.split('"')[1] for line in requests] == [f"GET /?someone-asked={n} HTTP/1.1" for n in range(3)], text
    assert "hubfront-health-check" not in text


async def _logged(ex: LocalDeployments, name: str, needle: str) -> bytes | None:
    data, _ = await ex.logs(name)
    return data if needle.encode() in data else None


async def test_a_killed_replica_is_restarted_while_the_other_serves(deployments, server):
    ex, name = deployments, next(_names)
    await ex.apply(spec(server, name))
    await ready(ex, name)
    first = ex.replicas(name)[0]
    os.kill(int(first["ref"].split(":")[0]), signal.SIGKILL)

    async def one_left():
        status = await ex.status(name)
        return status if status.available == 1 else None

    status = await until(one_left, 30, "one replica out")
    assert len(status.endpoints) == 1 and "v1" in await get(status.endpoints[0] + "/")
    status = await ready(ex, name)
    again = ex.replicas(name)[0]
    assert again["ref"] != first["ref"] and again["restarts"] == 1
    assert f"http://127.0.0.1:{again['port']}" in status.endpoints
    log = (await ex.logs(name))[0].decode()
    assert "[Killed by SIGKILL (exit code 137): restart 1 in a row, in 0.2 s]" in log


async def test_a_replica_failing_its_health_checks_gets_no_traffic_until_it_passes_again(deployments, server):
    ex, name = deployments, next(_names)
    await ex.apply(spec(server, name))
    await ready(ex, name)
    sick = ex.replicas(name)[0]
    marker = os.path.join(ex.executor.home("modeller"), "deployments", sick["name"], "sick")
    open(marker, "w").close()

    async def without_it():
        status = await ex.status(name)
        return status if status.available == 1 else None

    status = await until(without_it, 30, "the failing replica out")
    assert status.endpoints == (f"http://127.0.0.1:{ex.replicas(name)[1]['port']}",)
    os.unlink(marker)
    await ready(ex, name)
    assert ex.replicas(name)[0]["ref"] == sick["ref"]  # not restarted: only taken out of the endpoints


async def test_an_update_shifts_traffic_without_a_failed_request(deployments, server):
    ex, name = deployments, next(_names)
    ex.drain_seconds = 2.0  # eight endpoint refreshes of the client below (the default is 5 s to the runner's 0.25)
    await ex.apply(spec(server, name))
    await ready(ex, name)
    old = pids(ex, name, 1)
    seen, failures, stop = [], [], asyncio.Event()

    async def client():
        """Like the runner's forwarder: endpoints refreshed from the status every 0.25 s, every one of them
        asked in between; each must answer, all the time. Each answer is noted with when its endpoints
        were read."""
        read = 0.0
        while not stop.is_set():
            if time.monotonic() - read >= 0.25:
                asked = time.monotonic()
                endpoints, read = (await ex.status(name)).endpoints, asked
            if not endpoints:
                failures.append("no endpoint")
            for url in endpoints:
                try:
                    seen.append((read, (await get(url + "/")).split()[0]))
                except OSError as exc:
                    failures.append(f"{url}: {exc}")
            await asyncio.sleep(0.01)

    task = asyncio.create_task(client())
    await until(lambda: seen or failures, 30, "the client's first answers")
    await ex.apply(spec(server, name, revision=2, version="v2"))
    await ex.apply(spec(server, name, revision=2, version="v2"))  # the same revision again: nothing new
    assert len(ex.replicas(name)) == 4
    await ready(ex, name, revision=2)
    shifted = time.monotonic()
    await until(lambda: failures or any(t > shifted for t, _ in seen), 30, "answers from endpoints read since")
    stop.set()
    await task
    assert not failures, failures[:5]
    versions = [v for _, v in seen]
    assert versions[0] == "v1" and versions[-1] == "v2"
    assert all(v == "v2" for t, v in seen if t > shifted)  # endpoints read once shifted: only the new revision
    assert not any(running(pid) for pid in old) and len(cgroups_of(ex, name)) == 2


async def test_a_crash_looping_revision_fails_with_its_log_tail_and_the_old_one_serves_on(deployments, server):
    ex, name = deployments, next(_names)
    await ex.apply(spec(server, name))
    await ready(ex, name)
    await ex.apply(spec(server, name, revision=2, command="echo broken-v2-$HUBFRONT_REPLICA; exit 3"))

    async def failed():
        status = await ex.status(name)
        return status if status.failed else None

    status = await until(failed, 20, "a crash loop")
    assert status.failed == "CrashLoop", status
    assert "exited 3 times without becoming ready" in status.message and "Exit code 3" in status.message
    assert "Last log lines:\nbroken-v2-" in status.message
    assert (status.revision, status.available, status.rolled_out) == (1, 2, False)
    assert [(await get(url + "/")).split()[0] for url in status.endpoints] == ["v1", "v1"]
    await until(lambda: not pids(ex, name, 2), 30, "the failed revision stopped")
    await until(lambda: len(cgroups_of(ex, name)) == 2, 30, "the failed revision's cgroups removed")  # the old ones
    await ex.apply(spec(server, name, revision=2, command="echo broken-v2-$HUBFRONT_REPLICA; exit 3"))
    await asyncio.sleep(0.3)
    assert not pids(ex, name, 2) and (await ex.status(name)).failed == "CrashLoop"  # the same revision: no-op


async def test_a_revision_never_healthy_fails_the_health_check(deployments, server):
    ex, name = deployments, next(_names)
    ex.start_timeout = 1.5
    await ex.apply(spec(server, name, mode="unhealthy"))

    async def failed():
        status = await ex.status(name)
        return status if status.failed else None

    status = await until(failed, 20, "a health check failure")
    assert status.failed == "HealthCheck", status
    assert "not ready within 1.5 s (GET /health: HTTP 503)" in status.message
    assert "Last log lines:\nserving v1" in status.message
    assert (status.revision, status.available, status.endpoints) == (0, 0, ())
    await until(lambda: not pids(ex, name), 30, "the failed revision stopped")
    await until(lambda: cgroups_of(ex, name) == [], 30, "its cgroups removed")


async def test_a_new_executor_adopts_the_replicas_and_restarts_one_that_died_meanwhile(
        isolated, server, tmp_path):  # noqa: F811
    first = LocalDeployments(executor=isolated, **FAST)
    name = next(_names)
    s = spec(server, name, env={"GREETING": "again"})
    await first.apply(s)
    await ready(first, name)
    before = first.replicas(name)
    log, offset = await first.logs(name)
    await first.close()  # the runner goes away; the replicas do not
    dead = int(before[1]["ref"].split(":")[0])
    os.kill(dead, signal.SIGKILL)  # and one dies while nobody watches
    await until(lambda: not running(dead), 30, "the replica killed")

    second = LocalDeployments(executor=make_executor(tmp_path, "always"), **FAST)
    try:
        assert await second.adopt(s)
        status = await second.status(name)
        assert status.revision == 1 and status.available == 1  # the survivor, checked before adopt returned
        assert second.replicas(name)[0]["ref"] == before[0]["ref"]
        status = await ready(second, name)
        assert second.replicas(name)[1]["ref"] not in (before[1]["ref"], "")
        assert sorted([(await get(u + "/")).split()[-1] for u in status.endpoints]) == ["greeting=again"] * 2
        more, _ = await second.logs(name, offset)  # the stream goes on from where the old runner read it
        assert f"==> {name}-r1-1 <==\n[Killed by SIGKILL" in more.decode()
        await second.stop(name)
        assert not any(running(pid) for pid in pids(second, name)) and cgroups_of(second, name) == []
    finally:
        for deployment_id in list(second._deployments):
            await second.stop(deployment_id)
        await second.close()
