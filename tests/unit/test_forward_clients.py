"""A private deployment's client token works the moment the hub created it (issue 24): the forwarder,
refused a token its route does not know yet, reads the deployment's clients from the portal DB before it
answers 401. Real SQLite, a real forwarder on its own port and a real tiny replica; the route is the
one the runner had set before the client existed."""

from __future__ import annotations

import asyncio
import time

import pytest
from cryptography.fernet import Fernet
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from hub_ext.bodies import parse_body
from hub_ext.deployments.records import DeploymentStore
from hub_ext.deployments.requests import DeploymentCreate, resolve
from hub_ext.policy import parse_catalog, parse_policy
from hub_ext.services.deployer import Deployer
from hub_ext.services.forward import EndpointForwarder, Route, RouteTable, handlers

CATALOG = parse_catalog({"instance_types": [{"name": "small", "cpu": 1, "memory": "1Gi"}], "images": [{"name": "base"}]})
POLICY = parse_policy({"deployments_enabled": True}, CATALOG)


class Hello(web.RequestHandler):
    def get(self):
        self.finish({"hello": True})


def serve(app: web.Application) -> tuple[HTTPServer, str]:
    server = HTTPServer(app)
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def rig(sqlite_url):
    store = DeploymentStore(sqlite_url, Fernet.generate_key())
    body = parse_body(DeploymentCreate, {"id": "priv", "name": "Private", "command": "serve", "access": "private"})
    row = store.create(group="lab", username="ann", body=body, runtime=resolve(None, None, POLICY, CATALOG, "lab"),
                       policy=POLICY)
    table = RouteTable()
    deployer = Deployer(store=store, executor=None, ledger=None, routes=table)
    replica, replica_url = serve(web.Application([(r"/.*", Hello)]))
    # what the runner's last pass saw: the deployment private, with no client yet
    table.set(Route("priv", "private", (replica_url,), time.monotonic(), {}, "lab"))
    forwarder, base = serve(web.Application(handlers(table, forwarder=EndpointForwarder())))
    yield store, row, deployer, base
    forwarder.stop()
    replica.stop()


async def call(base: str, token: str):
    return await AsyncHTTPClient().fetch(f"{base}/deployments/priv/", headers={"Authorization": f"Bearer {token}"},
                                         raise_error=False, request_timeout=10)


async def test_a_client_created_a_moment_ago_is_let_in_at_once(rig):
    store, row, deployer, base = rig
    client, token = store.add_client(row, "script", None, "ann")
    r = await call(base, token)  # no runner pass in between
    assert r.code == 200, r.body
    assert (await call(base, "not-a-token")).code == 401
    # the read brought the route up to date as a whole: a client revoked before it is refused from then on
    store.revoke_client(row, "script", "ann")
    _, other = store.add_client(row, "other", None, "ann")
    assert (await call(base, other)).code == 200
    assert deployer.routes.get("priv").clients["script"].revoked
    assert (await call(base, token)).code == 401


async def test_wrong_tokens_share_their_reads_of_the_database(rig):
    store, row, deployer, base = rig
    reads = []
    clients_of = deployer.routes.fresh_clients.clients_of
    deployer.routes.fresh_clients.clients_of = lambda dep_id: reads.append(dep_id) or clients_of(dep_id)
    started = time.monotonic()
    answers = await asyncio.gather(*(call(base, f"wrong-{n}") for n in range(40)))
    took = time.monotonic() - started
    assert [r.code for r in answers] == [401] * 40
    # at most one read every 0.2 s while they wait (plus the first), not one per refused call
    assert 1 <= len(reads) <= took / 0.2 + 2, (len(reads), took)
