"""Websockets through the forwarder, for deployment endpoints and apps alike (issue 13).

A request that asks to upgrade to a websocket (``Upgrade: websocket`` with ``Connection:
upgrade``, no body) is admitted like any other (the same route, access check and
headers), then sent to the upstream with its upgrade headers kept. The upstream's answer
decides:

- ``101 Switching Protocols``: tornado's stream to the client is detached (the HTTP/1.1
  connection is no longer tornado's) and bytes are piped both ways as they come, each
  direction waiting while the other side is slow (no message is held whole); when either
  side closes, both connections close.
- anything else (a refused upgrade, 403 or 404...): relayed as the answer it is, and the
  connection to the upstream is not kept (it was asked to upgrade).

Only the handshake has a deadline (the forwarder's ``request_timeout``): a websocket may stay
open and idle as long as both ends keep it.
"""

from __future__ import annotations

import asyncio
import time

from tornado.iostream import IOStream, StreamClosedError

from .forward_routes import Connection, confine_answer, connection_tokens
from .forward_relay import BAD_ANSWER, CHUNK, FAILURES, MAX_HEAD, parse_head


def is_websocket(headers) -> bool:
    """Whether a request asks to upgrade its connection to a websocket."""
    return headers.get("Upgrade", "").strip().lower() == "websocket" and "upgrade" in connection_tokens(headers)


async def tunnel(ex, headers) -> None:
    """Forward the upgrade request of the exchange ``ex`` (:class:`.forward._Exchange`, admitted) and,
    once the upstream switched protocols, splice the two connections until one closes."""
    ep = ex.ep
    endpoint = ex.dep.pick()
    if endpoint is None:
        return ex._answer(*ex._unavailable(None))
    ex.tried = True
    try:
        up = await ep.table.pool.connect(endpoint, ep.settings.connect_timeout, MAX_HEAD)
    except FAILURES as exc:
        ex._failed(None, endpoint, exc)
        return ex._answer(*ex._unavailable(exc))
    if ex.gone:
        return up.close()
    ex.up = up
    ex.fields += f"Connection: Upgrade\r\nUpgrade: {headers['Upgrade']}\r\n"
    up.writer.write(ex._head(endpoint, 0))
    try:
        head = (await asyncio.wait_for(up.reader.readuntil(b"\r\n\r\n"), ep.settings.request_timeout)).decode("latin1")
        start, answer = parse_head(head)
        if start.code != 101:  # refused (or answered as a plain request): relayed as it is
            return await ex._relay(up, endpoint, head)
    except (*BAD_ANSWER, *FAILURES) as exc:
        if ex._failed(up, endpoint, exc):
            ex._answer(*ex._unavailable(exc))
        return None
    ex.answered, ex.up = True, None
    confine_answer(answer, ex.sandbox)  # the handshake's answer too (its hop-by-hop headers are the tunnel's)
    stream = ex.conn.detach()
    ex._done(101)
    lines = "".join(f"{name}: {value}\r\n" for name, value in answer.get_all())
    try:
        await stream.write(f"HTTP/1.1 101 {start.reason}\r\n{lines}\r\n".encode("latin1"))
    except StreamClosedError:
        return up.close()
    ex.dep.active += 1  # an open tunnel keeps its deployment up (scale to zero)
    try:
        await splice(stream, up)
    finally:
        ex.dep.active -= 1
        ex.dep.last = time.monotonic()
    return None


async def splice(stream: IOStream, up: Connection) -> None:
    """Pipe bytes between the client's ``stream`` and the upstream until either closes; then close both."""

    async def to_client():
        while data := await up.reader.read(CHUNK):  # what the upstream sent with its 101 comes first
            await stream.write(data)

    async def to_upstream():
        while True:
            data = await stream.read_bytes(CHUNK, partial=True)  # so are bytes that came with the request
            up.writer.write(data)
            await up.writer.drain()

    tasks = [asyncio.ensure_future(to_client()), asyncio.ensure_future(to_upstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        stream.close()
        up.close()
        await asyncio.gather(*tasks, return_exceptions=True)
