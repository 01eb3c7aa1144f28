"""Websockets through the forwarder (deployment endpoints), against a real tornado websocket upstream.

The upstream is a tornado app on 127.0.0.1 recording what reached it; the client is
tornado's websocket client; the forwarder runs in its own tornado server, as in the runner.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from tornado import web, websocket
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from hub_ext.services.forward import ClientCredential, EndpointForwarder, Route, RouteTable, handlers, token_digest


class Upstream:
    """``/ws`` echoes every message; ``/bye`` says bye and closes with code 4001; ``/refuse`` is a 403."""

    def __init__(self):
        self.seen: list[dict] = []  # the handshake requests that reached it
        self.closed = asyncio.Event()  # a websocket was closed by the client
        app = web.Application([(r"/ws", Echo, {"up": self}), (r"/bye", Bye, {"up": self}),
                               (r"/refuse", Refuse, {"up": self})])
        self.server = HTTPServer(app)
        [sock] = bind_sockets(0, "127.0.0.1")
        self.server.add_sockets([sock])
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"


class Echo(websocket.WebSocketHandler):
    def initialize(self, up):
        self.up = up

    def prepare(self):
        r = self.request
        self.up.seen.append({"path": r.path, "query": r.query, "headers": dict(r.headers.get_all())})

    def on_message(self, message):
        return self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self):
        self.up.closed.set()


class Bye(Echo):
    def open(self):
        self.write_message("bye")
        self.close(4001, "done")


class Refuse(web.RequestHandler):
    def initialize(self, up):
        self.up = up

    def get(self):
        self.up.seen.append({"path": self.request.path})
        self.set_status(403)
        self.finish({"refused": True})


@pytest.fixture
async def upstream():
    up = Upstream()
    yield up
    up.server.stop()


@pytest.fixture
async def forwarder():
    table = RouteTable()
    settings = EndpointForwarder(connect_timeout=1.0, request_timeout=5.0)
    server = HTTPServer(web.Application(handlers(table, forwarder=settings)))
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    yield table, f"ws://127.0.0.1:{sock.getsockname()[1]}"
    server.stop()
    await server.close_all_connections()


def route(table, upstream, access="public", clients=None):
    table.set(Route("m", access, (upstream.url,), time.monotonic(), clients or {}, "g"))


async def connect(url, **headers):
    return await websocket.websocket_connect(HTTPRequest(url, headers=headers, request_timeout=10),
                                             max_message_size=64 * 2**20)


async def test_messages_go_both_ways_whole_and_the_handshake_keeps_its_headers(forwarder, upstream):
    table, base = forwarder
    route(table, upstream)
    ws = await connect(base + "/deployments/m/ws?x=1", Cookie="jupyterhub-session-id=secret; app=1")
    assert ws.headers["Content-Security-Policy"] == "sandbox"  # the handshake's answer is confined too
    assert ws.headers["X-Content-Type-Options"] == "nosniff"
    for message in ["hello", b"\x00\x01binary", "é" * 1000, b"z" * (3 * 2**20)]:
        await ws.write_message(message, binary=isinstance(message, bytes))
        assert await asyncio.wait_for(ws.read_message(), 10) == message
    ws.close()
    [seen] = upstream.seen
    assert (seen["path"], seen["query"]) == ("/ws", "x=1")
    assert seen["headers"]["Upgrade"].lower() == "websocket" and "Sec-Websocket-Key" in seen["headers"]
    assert "Cookie" not in seen["headers"]  # no cookie reaches a replica, as for any request
    assert "X-Forwarded-For" in seen["headers"]


async def test_a_close_on_either_side_reaches_the_other(forwarder, upstream):
    table, base = forwarder
    route(table, upstream)
    ws = await connect(base + "/deployments/m/ws")
    await ws.write_message("ping")
    assert await ws.read_message() == "ping"
    ws.close(1000, "leaving")
    await asyncio.wait_for(upstream.closed.wait(), 10)  # the upstream's handler saw the client go

    ws = await connect(base + "/deployments/m/bye")
    assert await asyncio.wait_for(ws.read_message(), 10) == "bye"
    assert await asyncio.wait_for(ws.read_message(), 10) is None  # closed by the upstream
    assert (ws.close_code, ws.close_reason) == (4001, "done")


async def test_a_refused_upgrade_is_relayed_as_it_is(forwarder, upstream):
    table, base = forwarder
    route(table, upstream)
    with pytest.raises(HTTPClientError) as refused:
        await connect(base + "/deployments/m/refuse")
    assert refused.value.code == 403 and b'"refused": true' in refused.value.response.body
    ws = await connect(base + "/deployments/m/ws")  # the forwarder goes on serving
    await ws.write_message("still here")
    assert await ws.read_message() == "still here"
    ws.close()


async def test_a_private_deployment_checks_the_token_before_the_upgrade(forwarder, upstream):
    table, base = forwarder
    token = "t" * 43
    route(table, upstream, access="private", clients={"c": ClientCredential(token_digest(token))})
    with pytest.raises(HTTPClientError) as refused:
        await connect(base + "/deployments/m/ws")
    assert refused.value.code == 401 and upstream.seen == []
    ws = await connect(base + "/deployments/m/ws", Authorization=f"Bearer {token}")
    await ws.write_message("ok")
    assert await ws.read_message() == "ok"
    ws.close()
    assert "Authorization" not in upstream.seen[0]["headers"]


async def test_no_ready_upstream_is_503_before_any_upgrade(forwarder):
    table, base = forwarder
    table.set(Route("m", "public", (), time.monotonic(), {}, "g"))
    with pytest.raises(HTTPClientError) as refused:
        await connect(base + "/deployments/m/ws")
    assert refused.value.code == 503 and "Retry-After" in refused.value.response.headers
