"""A refused call with a body (a private deployment without a token) is answered cleanly: the forwarder reads
the body before it answers, so the connection is not reset under the answer (configurable-http-proxy, which
writes the body after the head, had said 503 'read ECONNRESET' instead of the 401), and the connection
stays usable for the next call."""

from __future__ import annotations

import asyncio
import json
import time

from tornado import httputil, web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets


from hub_ext.services.forward import DRAIN_BYTES, EndpointForwarder, Route, RouteTable, handlers


async def _serve():
    table = RouteTable(window=100)
    table.set(Route("m", "private", ("http://127.0.0.1:9",), time.monotonic(), {}, "g"))
    server = HTTPServer(web.Application(handlers(table, forwarder=EndpointForwarder())))
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    return server, sock.getsockname()[1]


async def _answer(reader) -> tuple[int, httputil.HTTPHeaders, bytes]:
    start, _, rest = (await reader.readuntil(b"\r\n\r\n")).decode("latin1").partition("\r\n")
    fields = httputil.HTTPHeaders.parse(rest)
    body = await reader.readexactly(int(fields["Content-Length"]))
    return int(start.split()[1]), fields, body


async def test_a_refused_call_whose_body_comes_after_its_head_gets_its_answer():
    server, port = await _serve()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(2):  # the second call on the same connection: the first one left it usable
            body = b"x" * (256 * 1024)
            writer.write(b"POST /deployments/m/invocations HTTP/1.1\r\nHost: h\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body))
            await writer.drain()
            await asyncio.sleep(0.1)  # the head is read and refused before the body arrives
            writer.write(body)
            await writer.drain()
            status, fields, answer = await asyncio.wait_for(_answer(reader), 10)
            assert status == 401 and json.loads(answer)["status"] == 401
            assert fields["WWW-Authenticate"] == 'Basic realm="deployment m"'
        writer.close()
    finally:
        server.stop()


async def test_a_refused_call_with_a_body_too_large_to_read_is_answered_at_once():
    server, port = await _serve()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /deployments/m/invocations HTTP/1.1\r\nHost: h\r\n"
                     b"Content-Length: %d\r\n\r\n" % (DRAIN_BYTES + 1))
        await writer.drain()
        status, fields, _ = await asyncio.wait_for(_answer(reader), 10)  # nothing of the body was sent
        assert status == 401 and fields.get("Connection") != "keep-alive"
        assert await asyncio.wait_for(reader.read(), 10) == b""  # and the connection is closed after it
        writer.close()
    finally:
        server.stop()
