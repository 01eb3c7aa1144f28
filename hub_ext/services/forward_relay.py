"""The upstream's answer, relayed to the client as it comes (deployment endpoints and apps).

:class:`Relay` is the half of a forwarded exchange (:class:`.forward._Exchange`) that waits
for the upstream's answer and passes it on: ``request_timeout`` between two pieces of it,
backpressure both ways, and the kept-alive connection handed back to the pool when it can
serve again. Split from :mod:`.forward` so that each module reads in one sitting.
"""

from __future__ import annotations

import asyncio

from tornado import httputil
from tornado.iostream import StreamClosedError

from .forward_routes import Connection, answer_fields, confine_answer, connection_tokens, strip_hop_by_hop

CHUNK = 65536  # bytes read at once; also the largest answer relayed in one write
MAX_HEAD = 65536
# an upstream that cannot be reached or breaks off; one whose answer is not HTTP (not taken out, not retried)
FAILURES = (OSError, StreamClosedError, asyncio.IncompleteReadError, asyncio.TimeoutError)
BAD_ANSWER = (httputil.HTTPInputError, asyncio.LimitOverrunError)


def parse_head(head: str) -> tuple[httputil.ResponseStartLine, httputil.HTTPHeaders]:
    """An answer head (up to and with its blank line): its start line and headers."""
    eol = head.find("\r\n")
    return httputil.parse_response_start_line(head[:eol]), answer_fields(head[eol + 2:-4])


class Relay:
    """Waiting for the upstream and relaying its answer; mixed into the exchange, whose attributes it uses:
    ``ep`` (settings, table, log), ``conn`` (the client's connection), ``method``, ``up``, ``sent``,
    ``answered``, ``gone``, ``timed_out``, ``timer``, ``deadline``, ``sandbox`` and ``_done(status)``."""

    # -- waiting for the upstream: request_timeout between two pieces of its answer ------------------
    def _sent(self) -> None:
        self.sent = True
        loop = asyncio.get_running_loop()
        self.deadline = loop.time() + self.ep.settings.request_timeout
        if self.timer is None:
            self.timer = loop.call_later(self.ep.settings.request_timeout, self._expire)

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        loop = asyncio.get_running_loop()
        self.timer = None
        if self.deadline > loop.time():  # it answered meanwhile: wait from its last piece
            self.timer = loop.call_later(self.deadline - loop.time(), self._expire)
        elif self.up is not None:
            self.timed_out = True
            self.up.close()

    def _alive(self) -> None:
        if self.sent:
            self.deadline = asyncio.get_running_loop().time() + self.ep.settings.request_timeout

    async def _pipe(self, reader: asyncio.StreamReader, left: int) -> None:
        """``left`` bytes of the answer's body, to the client as they come (waiting while it is slow)."""
        while left:
            data = await reader.read(min(left, CHUNK))
            if not data:
                raise asyncio.IncompleteReadError(b"", left)
            left -= len(data)
            try:
                await self.conn.write(data)
            except StreamClosedError:
                self.gone = True
                raise
            self._alive()

    async def _relay(self, up: Connection, endpoint: str, head: str | None = None) -> None:
        """Read the upstream's answer (unless its ``head`` was read already) and pass it on; keep the
        connection when it can serve again."""
        reader = up.reader
        for _ in range(8):  # skip informational (1xx) answers
            head = head or (await reader.readuntil(b"\r\n\r\n")).decode("latin1")
            start, headers = parse_head(head)
            if start.code >= 200:
                break
            head = None
        else:
            raise httputil.HTTPInputError("too many informational answers")
        self._alive()
        code, conn = start.code, self.conn
        keep = start.version == "HTTP/1.1" and "close" not in connection_tokens(headers)
        te, length = headers.get("Transfer-Encoding"), headers.get("Content-Length")
        strip_hop_by_hop(headers)
        confine_answer(headers, self.sandbox)
        if te is not None:  # the transfer coding frames the body, not a Content-Length
            headers.pop("Content-Length", None)
            length = None
        if length is not None and not length.isdigit():
            raise httputil.HTTPInputError(f"bad Content-Length {length!r}")
        bodiless = self.method == "HEAD" or code in (204, 304)
        whole = not bodiless and length is not None and int(length) <= CHUNK  # the usual model answer
        body = await reader.readexactly(int(length)) if whole else None
        self.answered = True  # from here on, a failure can only close the client's connection
        conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", code, start.reason), headers, body)
        if bodiless or whole:
            pass
        elif length is not None:
            await self._pipe(reader, int(length))
        elif te is not None and te.lower().endswith("chunked"):  # tornado frames it again for the client
            while True:
                line = await reader.readuntil(b"\r\n")
                try:
                    left = int(line.split(b";", 1)[0], 16)
                except ValueError:
                    raise httputil.HTTPInputError(f"bad chunk size {line[:40]!r}") from None
                if left == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":
                        pass  # trailers are dropped
                    break
                await self._pipe(reader, left)
                await reader.readexactly(2)
        else:  # the answer ends when the upstream closes the connection
            keep = False
            try:
                await self._pipe(reader, 2**62)
            except asyncio.IncompleteReadError:
                if self.timed_out or self.gone:
                    raise
        self.up = self._stop_timer()
        conn.finish()
        self._done(code)
        if keep and self.sent:
            self.ep.table.pool.give(endpoint, up, self.ep.settings.keep_idle)
        else:
            up.close()
