"""Scale to zero through the runner's own pieces: the deployer (real SQLite, a real ledger), the forwarder on
its own port, and an executor whose replicas are tiny tornado servers that take ``start_delay`` seconds to
come up. Idle, a deployment with min_replicas 0 goes to zero and gives its reservations back; a request
then wakes it, is held until a replica is ready and answered; many at once share one wake; the held
queue is bounded; the quota and the cold start timeout refuse with 503 and Retry-After."""

from __future__ import annotations

import asyncio
import time

import pytest
from cryptography.fernet import Fernet
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer

from hub_ext import activity
from hub_ext.bodies import BodyError, parse_body
from hub_ext.deployments.records import DeploymentStore
from hub_ext.deployments.requests import DeploymentCreate, DeploymentPatch, resolve
from hub_ext.ledger import Ledger
from hub_ext.policy import parse_catalog, parse_policy
from hub_ext.services.deployer import Deployer
from hub_ext.services.executors.deployments import DeploymentExecutor, DeploymentSpec, DeploymentStatus
from hub_ext.services.forward import EndpointForwarder, RouteTable, handlers
from hub_ext.services.hubapi import Groups
from test_forward_clients import Hello, serve

CATALOG = parse_catalog({"instance_types": [{"name": "small", "cpu": 1, "memory": "1Gi"}], "images": [{"name": "base"}]})
POLICY = parse_policy({"deployments_enabled": True}, CATALOG)
TIGHT = parse_policy({"deployments_enabled": True, "quota": {"cpu": 1}}, CATALOG)  # one replica fits, not two


class Slow(web.RequestHandler):
    async def get(self):
        await asyncio.sleep(2.5)  # longer than scale_down_after
        self.finish({"slow": True})


class SlowReplicas(DeploymentExecutor):
    """Each applied replica is a real HTTP server, up ``start_delay`` seconds after ``apply``."""

    name = "local"

    def __init__(self, start_delay: float = 0.3):
        self.start_delay = start_delay
        self.applied: list[DeploymentSpec] = []
        self.servers: dict[str, list[tuple[HTTPServer, str]]] = {}
        self.tasks: set[asyncio.Task] = set()

    async def apply(self, spec):
        self.applied.append(spec)
        self._end(spec.deployment_id)
        if spec.replicas:
            task = asyncio.create_task(self._start(spec))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _start(self, spec):
        await asyncio.sleep(self.start_delay)
        if self.last(spec.deployment_id) is spec:
            self.servers[spec.deployment_id] = [serve(web.Application([(r"/slow", Slow), (r"/.*", Hello)]))
                                                for _ in range(spec.replicas)]

    def _end(self, deployment_id):
        for server, _ in self.servers.pop(deployment_id, []):
            server.stop()

    def last(self, deployment_id):
        return next((s for s in reversed(self.applied) if s.deployment_id == deployment_id), None)

    async def status(self, deployment_id):
        spec = self.last(deployment_id)
        up = self.servers.get(deployment_id, [])
        if spec is None:
            return DeploymentStatus(revision=0, available=0, desired=0)
        return DeploymentStatus(revision=spec.revision if up else 0, available=len(up), desired=spec.replicas,
                                endpoints=tuple(url for _, url in up), rolled_out=len(up) == spec.replicas,
                                checked=time.monotonic())

    async def logs(self, deployment_id, offset=0):
        return b"", offset

    async def stop(self, deployment_id):
        self._end(deployment_id)

    async def adopt(self, spec):
        return False

    def close(self):
        for task in self.tasks:
            task.cancel()
        for deployment_id in list(self.servers):
            self._end(deployment_id)


class Rig:
    def __init__(self, db_url: str, start_delay: float, max_held: int):
        self.db_url = db_url
        self.store = DeploymentStore(db_url, Fernet.generate_key())
        self.ledger = Ledger(db_url)
        self.executor = SlowReplicas(start_delay)
        self.deployer = Deployer(store=self.store, executor=self.executor, ledger=self.ledger, routes=RouteTable(),
                                 catalog=CATALOG, log=__import__("logging").getLogger("test"))
        self.deployer.hub = None
        self.groups = Groups(policies={"lab": POLICY}, members={"lab": frozenset({"ann"})})
        self.server, self.base = serve(web.Application(handlers(
            self.deployer.routes, forwarder=EndpointForwarder(max_held=max_held, retry_after=3))))

    def create(self, dep_id: str, **fields):
        body = parse_body(DeploymentCreate, {"id": dep_id, "name": dep_id.title(), "command": "serve", **fields})
        return self.store.create(group="lab", username="ann", body=body,
                                 runtime=resolve(None, None, POLICY, CATALOG, "lab"), policy=POLICY)

    async def until(self, dep_id: str, phase: str, timeout: float = 20.0):
        """Reconcile passes (as the runner's loop makes them) until the deployment is in ``phase``."""
        deadline = time.monotonic() + timeout
        while True:
            await self.deployer.reconcile(self.groups)
            row = self.store.get(dep_id)
            if row.phase == phase:
                return row
            assert time.monotonic() < deadline, f"{dep_id} still {row.phase}: {row.message}"
            await asyncio.sleep(0.1)

    def held(self, dep_id: str) -> list[str]:
        return sorted(r.workload_id for r in self.ledger.reservations(kind="deployment")
                      if r.workload_id.startswith(f"{dep_id}@"))

    async def call(self, dep_id: str, timeout: float = 30, path: str = "x"):
        return await AsyncHTTPClient().fetch(f"{self.base}/deployments/{dep_id}/{path}", raise_error=False,
                                             request_timeout=timeout)

    def activities(self) -> list[str]:
        return [a.message for a in activity.recent(self.db_url, group="lab", limit=100)]


@pytest.fixture
def make_rig(sqlite_url):
    rigs = []

    def make(start_delay: float = 0.3, max_held: int = 64) -> Rig:
        rigs.append(Rig(sqlite_url, start_delay, max_held))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.server.stop()
        rig.executor.close()


async def test_idle_it_scales_to_zero_and_the_next_requests_wake_it_and_are_answered(make_rig):
    rig = make_rig(start_delay=0.5)
    rig.create("idle", replicas=2, min_replicas=0, scale_down_after=1)
    await rig.until("idle", "Deployed")
    assert rig.held("idle") == ["idle@1#0", "idle@1#1"]

    row = await rig.until("idle", "ScaledToZero")
    assert row.message == "Scaled to zero (no requests for 1 s) — wakes on the next request"
    assert row.zero_since is not None and row.available == 0
    assert rig.held("idle") == []  # at zero it reserves nothing
    assert rig.executor.applied[-1].replicas == 0  # the same revision, at 0 replicas
    assert rig.executor.applied[-1].revision == 1
    assert any("scaled to zero (no requests for 1 s)" in m for m in rig.activities())

    # 20 at once: one wake, every request held until a replica is ready, then answered
    answers = await asyncio.gather(*(rig.call("idle") for _ in range(20)))
    assert [r.code for r in answers] == [200] * 20, [r.body for r in answers if r.code != 200]
    assert [s.replicas for s in rig.executor.applied] == [2, 0, 2]
    row = rig.store.get("idle")
    assert row.zero_since is None and row.wakes == 1
    assert 0.5 <= row.last_cold_start < 10 and row.last_cold_start_at is not None
    assert rig.held("idle") == ["idle@1#0", "idle@1#1"]  # admitted again in the ledger
    said = rig.activities()
    assert any("woken by a request" in m for m in said), said
    assert any("ready after" in m and "(cold start)" in m for m in said), said
    shown = rig.store.as_json(row)
    assert shown["scale_to_zero"]["last_cold_start_s"] == row.last_cold_start and shown["min_replicas"] == 0


async def test_requests_keep_it_up_and_a_minimum_above_zero_never_scales_down(make_rig):
    rig = make_rig(start_delay=0.05)
    rig.create("busy", min_replicas=0, scale_down_after=2)  # each pass below would scale it down if idle
    rig.create("steady", scale_down_after=1)  # min_replicas defaults to 1: today's behaviour
    await rig.until("busy", "Deployed")
    await rig.until("steady", "Deployed")
    until = time.monotonic() + 3.5
    while time.monotonic() < until:  # a request every 0.3 s, passes in between
        assert (await rig.call("busy")).code == 200
        await rig.deployer.reconcile(rig.groups)
        await asyncio.sleep(0.3)
    assert rig.store.get("busy").phase == "Deployed"
    assert rig.store.get("steady").phase == "Deployed"
    # a request answered for longer than scale_down_after keeps it up while it is answered
    slow = asyncio.ensure_future(rig.call("busy", path="slow"))
    while not slow.done():
        await rig.deployer.reconcile(rig.groups)
        await asyncio.sleep(0.1)
    assert slow.result().code == 200 and rig.store.get("busy").phase == "Deployed"
    await rig.until("busy", "ScaledToZero")
    assert rig.store.get("steady").phase == "Deployed" and rig.held("steady") == ["steady@1#0"]


async def test_a_wake_the_quota_refuses_is_a_503_with_its_message_and_it_stays_at_zero(make_rig):
    rig = make_rig()
    rig.create("wide", replicas=2, min_replicas=0, scale_down_after=1)
    await rig.until("wide", "ScaledToZero", timeout=30)
    rig.groups = Groups(policies={"lab": TIGHT}, members={"lab": frozenset({"ann"})})
    await rig.deployer.reconcile(rig.groups)  # a wake admits against the policies of the runner's last pass
    r = await rig.call("wide")
    assert r.code == 503 and r.headers["Retry-After"] == "3"
    assert b"scaled to zero and cannot wake now" in r.body and b"CPU" in r.body, r.body
    row = rig.store.get("wide")
    assert row.phase == "ScaledToZero" and rig.held("wide") == []
    assert any("could not wake" in m for m in rig.activities())
    rig.groups = Groups(policies={"lab": POLICY}, members={"lab": frozenset({"ann"})})
    await rig.deployer.reconcile(rig.groups)
    await asyncio.sleep(rig.deployer.refusal_reused)
    assert (await rig.call("wide")).code == 200


async def test_the_held_queue_is_bounded_and_a_slow_cold_start_is_refused_after_its_timeout(make_rig):
    rig = make_rig(start_delay=1.0, max_held=3)
    rig.create("queue", min_replicas=0, scale_down_after=1)
    await rig.until("queue", "ScaledToZero", timeout=30)
    answers = await asyncio.gather(*(rig.call("queue") for _ in range(5)))
    codes = sorted(r.code for r in answers)
    assert codes == [200, 200, 200, 503, 503], codes
    refused = [r for r in answers if r.code == 503]
    assert all(r.headers["Retry-After"] == "3" and b"requests wait for it already" in r.body for r in refused)

    await rig.until("queue", "ScaledToZero", timeout=30)
    rig.store.update(rig.store.get("queue"), {"cold_start_timeout": 1}, None, "ann")
    await rig.deployer.reconcile(rig.groups)  # the route takes the new timeout
    rig.executor.start_delay = 3.0
    r = await rig.call("queue")
    assert r.code == 503 and b"no replica was ready within 1 s" in r.body, r.body
    assert r.headers["Retry-After"] == "3"
    for _ in range(10):  # it kept waking: a later request is answered once its replica is ready
        r = await rig.call("queue")
        if r.code == 200:
            break
    assert r.code == 200
    assert rig.store.get("queue").wakes == 2  # one wake, whatever the requests meanwhile


def test_the_settings_are_checked_in_plain_words_naming_the_field(sqlite_url):
    for bad, field, words in [
        ({"min_replicas": -1}, "min_replicas", "Min replicas: must be at least 0"),
        ({"scale_down_after": "soon"}, "scale_down_after", "Scale down after: invalid duration 'soon'"),
        ({"scale_down_after": 0}, "scale_down_after", "Scale down after: must be positive"),
        ({"cold_start_timeout": "2h"}, "cold_start_timeout", "Cold start timeout: give at most 1 h"),
    ]:
        with pytest.raises(BodyError) as err:
            parse_body(DeploymentPatch, bad)
        assert err.value.errors[field].startswith(words), err.value.errors
    body = parse_body(DeploymentPatch, {"min_replicas": 0, "scale_down_after": "30m", "cold_start_timeout": "2m"})
    assert (body.min_replicas, body.scale_down_after, body.cold_start_timeout) == (0, 1800, 120)
    store = DeploymentStore(sqlite_url, Fernet.generate_key())
    with pytest.raises(BodyError) as err:
        store.create(group="lab", username="ann", body=parse_body(DeploymentCreate, {
            "id": "two", "name": "Two", "command": "serve", "min_replicas": 2}),
            runtime=resolve(None, None, POLICY, CATALOG, "lab"), policy=POLICY)
    assert err.value.errors == {"min_replicas": "Min replicas: at most the replicas (1)"}
    row = store.create(group="lab", username="ann", body=parse_body(DeploymentCreate, {
        "id": "one", "name": "One", "command": "serve"}), runtime=resolve(None, None, POLICY, CATALOG, "lab"),
        policy=POLICY)
    assert (row.min_replicas, row.scale_down_after, row.cold_start_timeout) == (1, 1800, 120)
    row = store.update(row, {"min_replicas": 0, "scale_down_after": 60}, None, "ann")
    assert (row.min_replicas, row.scale_down_after, row.revision) == (0, 60, 1)  # changed in place: no new revision
