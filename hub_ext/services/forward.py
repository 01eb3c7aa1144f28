"""Deployment endpoints: the runner forwards ``/deployments/<id>/…`` to ready replicas (issue 11).

configurable-http-proxy sends every path under ``/deployments/`` (the full
path) to the runner's port; the runner adds :func:`handlers` to its tornado
application and hands the :class:`RouteTable` (:mod:`.forward_routes`) a new
:class:`Route` after every status refresh. ``/deployments/<id>/<rest>?<query>``
goes to ``<replica>/<rest>?<query>``. A stopped deployment keeps a Route with
no endpoints (503); only a deleted one is removed (404).

A request meets, in order: unknown deployment, 404 JSON; private deployment
called with a valid client token of another group's deployment, the same 404;
private deployment without a valid client token, 401 with ``WWW-Authenticate: Basic`` (nothing
reaches a replica); no replica ready, 503 with ``Retry-After`` at once, unless the deployment is
scaled to zero (or waking from it): then the request wakes it and is held until a replica is
ready (:mod:`.forward_wake`); else the next replica, round robin (headers:
:func:`.forward_routes.request_fields`).

Endpoints are on the hub's origin, so what a replica serves must never run as it: every answer
(the replica's, the websocket handshake's and the forwarder's own) carries
``Content-Security-Policy: sandbox`` (a header of its own, enforced beside any policy the replica
sends) and ``X-Content-Type-Options: nosniff``; a replica's ``Set-Cookie`` is dropped and no cookie
reaches it (:func:`.forward_routes.confine_answer`).
A body of at most ``retry_body_bytes`` is held, so a request whose replica
cannot be reached (refused, reset, connect or answer timeout) is retried once
on another; a larger body streams to the replica as it arrives, never held
whole, and only a failed connect is retried then (later, 502). The answer
streams back as it comes, with backpressure both ways. A failed replica is
out of the rotation until a Route checked after the failure arrives. A request
upgrading to a websocket is tunnelled once admitted (:mod:`.forward_ws`). The
answer's relay is :mod:`.forward_relay`; apps (each at its own origin) are
served by the same exchange with their own admission (:mod:`.forward_apps`).

Not ``RequestHandler`` + ``AsyncHTTPClient``: the simple client opens a
connection per request (curl is not installed), and ``RequestHandler`` does
work a proxy does not need (default headers, etags, access log lines). The
rule's target is a tornado ``HTTPServerConnectionDelegate`` answering on
tornado's HTTP/1.1 connection, and replicas (``http://``) are reached over
kept-alive asyncio connections. ``bench/endpoint.py`` measures the cost.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from tornado import httputil

from .forward_routes import (SANDBOX, ClientCredential, Connection, Deployment, EndpointForwarder, Route, RouteTable,
                           Stats, challenge, endpoint_parts, request_fields, token_digest)
from .forward_relay import BAD_ANSWER as _BAD_ANSWER, FAILURES as _FAILURES, MAX_HEAD as _MAX_HEAD, Relay
from .forward_wake import hold_while_waking
from .forward_ws import is_websocket, tunnel

__all__ = ["Route", "RouteTable", "Stats", "ClientCredential", "EndpointForwarder", "handlers", "token_digest"]

_ID_AND_REST = re.compile(r"([^/?]*)(.*)", re.DOTALL)
DRAIN_BYTES = 1 << 20  # a refused request's body up to this size is read before the answer


def handlers(table: RouteTable, prefix: str = "/deployments/", forwarder: EndpointForwarder | None = None) -> list:
    """The URL rules to add to the runner's ``web.Application``: every path under ``prefix``."""
    return [(re.escape(prefix) + ".*", Endpoints(table, prefix, forwarder or EndpointForwarder()))]


class Endpoints(httputil.HTTPServerConnectionDelegate):
    """The rule target: tornado hands it each request's connection; one ``exchange`` serves it
    (:class:`_Exchange` for deployments, :class:`.forward_apps.AppExchange` for apps)."""

    def __init__(self, table: RouteTable, prefix: str, settings: EndpointForwarder, exchange=None, **extra):
        self.table, self.prefix, self.settings, self.log = table, prefix, settings, settings.log
        self.exchange = exchange or _Exchange
        self.extra = extra  # what the exchange class needs besides (the apps' access checker)
        self.tasks: set[asyncio.Future] = set()

    def start_request(self, server_conn, request_conn) -> httputil.HTTPMessageDelegate:
        return self.exchange(self, request_conn)

    def spawn(self, exchange: _Exchange, coro) -> None:
        """Run ``coro`` for ``exchange``; a bug in it must not leave the client waiting (502, or a close)."""
        def ended(task):
            self.tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                self.log.error("%s forwarding failed", exchange.noun, exc_info=task.exception())
                exchange.crashed()

        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(ended)


class _Exchange(Relay, httputil.HTTPMessageDelegate):
    """One request: the checks, then the exchange with a replica, relayed as it comes (:class:`.Relay`).

    ``state``: ``hold`` (the body is held for a retry), ``stream`` (the body goes to the replica as it
    arrives), ``refused`` (answered, or to be answered once the request is read; the rest is dropped).
    Subclasses (apps) change :meth:`admit`, :meth:`target`, :meth:`_unavailable` and :meth:`_body`.
    """

    noun = "Deployment"  # in log lines and messages
    keep_host = False  # True (apps): the upstream gets the client's Host header and its host's own cookies
    sandbox = True  # answers carry Content-Security-Policy: sandbox and no Set-Cookie (on the hub's origin)
    private = True  # ``Authorization`` stays behind (unless :meth:`admit` says the route is public)

    def __init__(self, endpoints: Endpoints, conn):
        self.ep, self.conn = endpoints, conn  # conn: tornado's HTTP/1.1 connection to the client (or proxy)
        self.state, self.dep, self.refusal = "hold", None, None
        self.held: list[bytes] | None = []
        self.held_bytes, self.deadline = 0, 0.0
        self.up: Connection | None = None  # the replica's connection while in use
        self.chunked = self.sent = self.answered = self.tried = self.gone = self.timed_out = self.counted = False
        self.timer: asyncio.TimerHandle | None = None

    # -- the request, from tornado ----------------------------------------------------------------
    def headers_received(self, start_line, headers):
        """Admit the request (maybe after an awaited check), then get ready to forward it; an upgrade to
        a websocket is tunnelled here (tornado waits for the returned awaitable, so the body waits too)."""
        self.t0 = time.perf_counter()
        self.method, self.host = start_line.method, headers.get("Host")
        self.length = headers.get("Content-Length")
        self.has_body = bool(self.length and self.length != "0") or "Transfer-Encoding" in headers
        verdict = self.admit(start_line, headers)
        if verdict is True:
            return self._ready(headers)
        if verdict:
            return self._admit_later(verdict, headers)
        return None

    async def _admit_later(self, verdict, headers) -> None:
        try:
            if await verdict:
                ready = self._ready(headers)
                if ready is not None:
                    await ready
        except Exception:  # noqa: BLE001 - a bug must not leave the client waiting
            self.ep.log.error("%s forwarding failed", self.noun, exc_info=True)
            self.crashed()

    def admit(self, start_line, headers):
        """True to forward, False when refused (:meth:`_refuse` was called), or an awaitable of either."""
        rest = start_line.path[len(self.ep.prefix):]
        dep_id, tail = _ID_AND_REST.match(rest).groups()
        self.tail = tail if tail[:1] == "/" else "/" + tail
        d: Deployment | None = self.ep.table.deployments.get(dep_id)
        if d is None:
            return self._refuse(404, f"No such deployment: {dep_id}")
        self.dep = d
        d.requests += 1
        self.private = d.route.access != "public"
        authorization = headers.get("Authorization")
        if d.client(authorization) is None:
            fresh = self.ep.table.fresh_clients
            if authorization and self.private and fresh is not None:  # maybe a client made a moment ago
                return self._admit_with_fresh_clients(fresh, dep_id, authorization)
            return self._unauthorized(d, dep_id, authorization)
        return True

    async def _admit_with_fresh_clients(self, fresh, dep_id: str, authorization: str) -> bool:
        """Admission once the deployment's clients were read again (:mod:`.forward_clients`)."""
        await fresh.refresh(dep_id)
        d = self.ep.table.deployments.get(dep_id)
        if d is None:
            return self._refuse(404, f"No such deployment: {dep_id}")
        self.dep = d
        return d.client(authorization) is not None or self._unauthorized(d, dep_id, authorization)

    def _unauthorized(self, d: Deployment, dep_id: str, authorization: str | None) -> bool:
        caller = self.ep.table.group_of_caller(authorization)
        if caller is not None and caller != d.route.group:  # another group's client: no such deployment
            return self._refuse(404, f"No such deployment: {dep_id}")
        d.unauthorized += 1
        return self._refuse(401, f"Deployment {dep_id} is private: send a client's token as "
                                 "'Authorization: Bearer <token>' or basic <client>:<token>",
                            {"WWW-Authenticate": challenge(dep_id)})

    def _ready(self, headers):
        """After admission: the size and readiness checks; the tunnel (an awaitable) for a websocket."""
        s, d, length = self.ep.settings, self.dep, self.length
        d.last = time.monotonic()  # an admitted request: the deployment is in use (scale to zero)
        if length is not None and not (length.isdigit() and int(length) <= s.max_body_bytes):
            self._refuse(413 if length.isdigit() else 400,
                         f"Content-Length must be a number of at most {s.max_body_bytes} bytes")
            return None
        if not d.ready:
            if d.route.wakes:  # at zero: wake it, hold the request until a replica is ready
                return hold_while_waking(self, headers)
            self._refuse(*self._unavailable(None))
            return None
        self.counted = True  # in flight from here until _uncount: a deployment is not scaled to zero under it
        d.active += 1
        self.conn.set_max_body_size(s.max_body_bytes)
        self.conn.set_close_callback(self._client_gone)
        ctx = self.conn.context
        self.fields = request_fields(headers, self.private, ctx.remote_ip, ctx.protocol, self.keep_host)
        if not self.has_body and is_websocket(headers):
            self.state = "tunnel"
            return tunnel(self, headers)
        return None

    def data_received(self, chunk):
        if self.state == "hold":
            self.held.append(chunk)
            self.held_bytes += len(chunk)
            if self.held_bytes > self.ep.settings.retry_body_bytes:
                return self._open_stream()
        elif self.state == "stream":
            return self._upload(chunk)
        return None

    def finish(self):
        if self.state == "hold":
            self.ep.spawn(self, self._forward_held())
        elif self.state == "stream":
            if self.chunked and self.up is not None and not self.up.writer.is_closing():
                self.up.writer.write(b"0\r\n\r\n")
            self._sent()
        elif self.refusal is not None:
            self._answer(*self.refusal)

    def on_connection_close(self):
        self._client_gone()

    def _client_gone(self):
        self.gone = True
        self._uncount()
        if self.up is not None:
            self.up.close()

    def _uncount(self) -> None:
        """The request is no longer in flight (once): the deployment's idle time starts now."""
        if self.counted:
            self.counted = False
            self.dep.active -= 1
            self.dep.last = time.monotonic()

    def _head(self, endpoint: str, body: int | None) -> bytes:
        """The request head for ``endpoint``: with a held body of ``body`` bytes, or streamed (None)."""
        _, _, netloc, base = endpoint_parts(endpoint)
        framing = ""
        if body is None:
            self.chunked = self.length is None
            framing = "Transfer-Encoding: chunked\r\n" if self.chunked else f"Content-Length: {self.length}\r\n"
        elif body or self.has_body or self.method in ("POST", "PUT", "PATCH"):
            framing = f"Content-Length: {body}\r\n"
        host = self.host if self.keep_host and self.host else netloc
        head = f"{self.method} {base}{self.tail} HTTP/1.1\r\nHost: {host}\r\n{self.fields}{framing}\r\n"
        return head.encode("latin1")

    # -- answers of the forwarder's own -----------------------------------------------------------
    def _refuse(self, status: int, message: str, extra: dict | None = None) -> bool:
        """Answer once the request is read (a body of at most ``DRAIN_BYTES`` is read and dropped), else now,
        and the connection closes after it: closing with a body left unread resets the connection, and the
        proxy in front may lose the answer with it (configurable-http-proxy then says 503)."""
        self.state = "refused"
        if self.has_body and not (self.length and self.length.isdigit() and int(self.length) <= DRAIN_BYTES):
            self._answer(status, message, extra)
        else:
            self.refusal = (status, message, extra)
        return False

    def _unavailable(self, failure: Exception | None) -> tuple:
        dep_id = self.dep.route.deployment_id
        if failure is not None:  # what went wrong is in the runner's log, not for the endpoint's callers
            return 502, f"The replica of deployment {dep_id} failed to answer; try again", None
        return (503, f"No replica of deployment {dep_id} is ready; try again later",
                {"Retry-After": str(self.ep.settings.retry_after)})

    def _answer(self, status: int, message: str, extra: dict | None = None) -> None:
        if self.answered or self.gone:
            return
        self.answered, self.state = True, "refused"
        content_type, body = self._body(status, message)
        headers = httputil.HTTPHeaders({"Content-Type": content_type, "Content-Length": str(len(body)),
                                        "X-Content-Type-Options": "nosniff"})
        if self.sandbox:
            headers["Content-Security-Policy"] = SANDBOX
        for name, value in (extra or {}).items():
            for one in value if isinstance(value, list) else [value]:
                headers.add(name, one)
        start = httputil.ResponseStartLine("HTTP/1.1", status, httputil.responses.get(status, "Error"))
        self.conn.write_headers(start, headers, None if self.method == "HEAD" else body)
        self.conn.finish()
        if self.dep is not None:
            self._done(status)

    def _body(self, status: int, message: str) -> tuple[str, bytes]:
        """The content type and body of an answer of the forwarder's own."""
        return "application/json", json.dumps({"status": status, "message": message}).encode()

    def crashed(self) -> None:
        """After a bug here: 502, or the client's connection closes; no replica is blamed."""
        if self._failed(self.up, "", None):
            self._answer(502, f"The {self.noun.lower()} forwarding failed; see the runner's log")

    def _done(self, status: int) -> None:
        self._uncount()
        if self.tried and self.dep is not None:
            self.dep.latencies.append(time.perf_counter() - self.t0)
        if status >= 500 and self.dep is not None:
            self.dep.errors += 1

    def _failed(self, up: Connection | None, endpoint: str, exc: Exception | None) -> bool:
        """After a replica failed with ``exc``: True when the request may still be answered (nothing went out)."""
        if up is not None:
            up.close()
        self.up = self._stop_timer()
        if self.answered and not self.gone:  # the answer broke off: the client sees the connection close
            self.conn.close()
            self._done(502)
        if self.gone or self.answered:
            return False
        dep_id = self.dep.route.deployment_id if self.dep is not None else ""
        if isinstance(exc, _BAD_ANSWER):
            self.ep.log.warning("%s %s: %s answered no valid HTTP: %s", self.noun, dep_id, endpoint, exc)
        elif exc is not None:
            reason = f"no answer within {self.ep.settings.request_timeout:g} s" if self.timed_out else repr(exc)
            self.ep.log.warning("%s %s: %s taken out: %s", self.noun, dep_id, endpoint, reason)
            self.ep.table.take_out(dep_id, endpoint)
        return True

    # -- to the replica ---------------------------------------------------------------------------
    async def _forward_held(self) -> None:
        """The request with its held body: retried once on another replica if its replica fails."""
        d, ep = self.dep, self.ep
        body = self.held[0] if len(self.held) == 1 else b"".join(self.held)
        self.held, failure, fresh = None, None, False
        endpoint = d.pick()
        for _ in range(3):  # a replica, maybe a new connection to it, another replica
            if endpoint is None:
                break
            up = None if fresh else ep.table.pool.take(endpoint)
            reused, self.tried = up is not None, True
            try:
                self.up = up = up or await ep.table.pool.connect(endpoint, ep.settings.connect_timeout, _MAX_HEAD)
                if self.gone:
                    return up.close()
                up.writer.write(self._head(endpoint, len(body)) + body)
                self._sent()
                return await self._relay(up, endpoint)
            except (*_BAD_ANSWER, *_FAILURES) as exc:
                if reused and not self.timed_out and not self.answered and isinstance(exc, _FAILURES):
                    up.close()  # a kept-alive connection the replica had just closed: again on a new one
                    fresh, self.sent = True, self._stop_timer()
                    continue
                if not self._failed(up, endpoint, exc):
                    return None
                failure, fresh, self.sent, self.timed_out = exc, False, False, False
                if isinstance(exc, _BAD_ANSWER):
                    break
                endpoint = d.pick()
        self._answer(*self._unavailable(failure))

    async def _open_stream(self) -> None:
        """The body outgrew what is held: connect (a failed connect is tried on another replica) and stream it."""
        d, ep = self.dep, self.ep
        self.state, failure = "opening", None
        for _ in range(2):
            endpoint = d.pick()
            if endpoint is None:
                break
            self.tried = True
            try:
                up = await ep.table.pool.connect(endpoint, ep.settings.connect_timeout, _MAX_HEAD)
            except _FAILURES as exc:
                self._failed(None, endpoint, exc)
                failure = exc
                continue
            if self.gone:
                return up.close()
            self.up, self.state = up, "stream"
            held, self.held = b"".join(self.held), None
            up.writer.write(self._head(endpoint, None))
            ep.spawn(self, self._relay_streamed(up, endpoint))
            return await self._upload(held)
        self._answer(*self._unavailable(failure))

    async def _upload(self, chunk: bytes) -> None:
        up = self.up
        if up is None or up.writer.is_closing() or not chunk:
            return
        if self.chunked:
            up.writer.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
        else:
            up.writer.write(chunk)
        try:
            await up.writer.drain()  # the replica's pace: tornado reads no more of the client's body meanwhile
        except OSError:
            pass  # the relay sees the connection closed and answers

    async def _relay_streamed(self, up: Connection, endpoint: str) -> None:
        try:
            await self._relay(up, endpoint)
        except (*_BAD_ANSWER, *_FAILURES) as exc:
            if self._failed(up, endpoint, exc):
                self._answer(*self._unavailable(exc))
