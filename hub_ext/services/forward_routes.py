"""Deployment endpoints' routes, replicas and access: what the runner hands the forwarder (issue 11).

:class:`RouteTable` holds, per deployment, its :class:`Route` (ready replicas
and clients), the replicas taken out after a failure, the traffic counters,
and the kept-alive connections to replicas (:class:`Connections`), closed
when a replica leaves the rotation; :mod:`.forward` reads it on every
request. It all lives in the runner's one event loop: no locks.

**Access.** A private deployment is called by named clients. A client's
token is 256 random bits shown once; only its SHA-256 (hex) is stored, the
same digest as the portal's invitation tokens, by one function
(``hub_ext.keys.token_digest``). A random token that long needs no slow
hash, and the forwarder checks one on every model call, so the check must
cost microseconds: one sha256 and constant-time comparisons, no argon2.

Clients send the token as ``Authorization: Bearer <token>`` or, as PrimeHub's
clients do, HTTP basic ``<client>:<token>``.

**What goes further.** A replica is the deployment owner's code: it gets
neither the client's token nor any cookie (endpoints are on the hub's origin,
so every cookie a browser sends there is the hub's), and no header about the
connection it did not come on (:func:`request_fields`). Its answers reach the
browser sandboxed (:func:`confine_answer`).

The operator's settings (:class:`EndpointForwarder`) live here too, so that
the runner imports what it configures and feeds from one module.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Mapping, NamedTuple
from urllib.parse import urlsplit

from traitlets import Float, Int
from traitlets.config import LoggingConfigurable

from .forward_headers import (  # noqa: F401 - the forwarders import them from here
    HOP_BY_HOP, SANDBOX, answer_fields, confine_answer, connection_tokens, request_fields, strip_hop_by_hop,
    strip_hub_cookies,
)
from ..keys import token_digest  # the portal's one way of keeping a random token (invitations too)


class ClientCredential(NamedTuple):
    """One client of a private deployment, as the runner reads it from the portal DB."""

    digest: str  # token_digest(token)
    expires: datetime | None = None  # UTC; a naive value is taken as UTC
    revoked: bool = False

    def usable(self, now: float) -> bool:
        """Not revoked and not expired at ``now`` (a POSIX time stamp)."""
        if self.revoked:
            return False
        if self.expires is None:
            return True
        expires = self.expires if self.expires.tzinfo else self.expires.replace(tzinfo=timezone.utc)
        return now < expires.timestamp()


def challenge(deployment_id: str) -> str:
    """The ``WWW-Authenticate`` value of a 401: basic, so that browsers and curl -u know what to send."""
    return f'Basic realm="deployment {deployment_id}"'


def client_for(clients: Mapping[str, ClientCredential], authorization: str | None, now: float) -> str | None:
    """The name of the client whose valid token ``authorization`` carries, or None.

    None for a missing or malformed header, an unknown token or client, and a
    revoked or expired client: the caller answers 401 to all of them alike.
    """
    if not authorization or not clients:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer":
        digest = token_digest(value)
        for name, cred in clients.items():
            if hmac.compare_digest(cred.digest, digest):
                return name if cred.usable(now) else None
        return None
    if scheme != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, colon, token = decoded.partition(":")
    digest = token_digest(token)  # also for an unknown name: the same work either way
    cred = clients.get(name)
    if not colon or cred is None or not hmac.compare_digest(cred.digest, digest):
        return None
    return name if cred.usable(now) else None


class EndpointForwarder(LoggingConfigurable):
    """Settings of deployment endpoint forwarding (``c.EndpointForwarder.…``, read by the runner process)."""

    connect_timeout = Float(5.0, help="Seconds to open a connection to a replica; past it the replica is taken "
                                      "out and the request tried on another.").tag(config=True)
    request_timeout = Float(
        60.0, help="""Seconds a replica may take to start its answer once the request is sent, and at most
        between two pieces of its answer. Past it the replica is taken out (a held request is tried on another).""",
    ).tag(config=True)
    retry_after = Int(5, help="Retry-After seconds of the 503 answered while no replica is ready.").tag(config=True)
    retry_body_bytes = Int(
        65536, help="""Request bodies up to this size are held in memory, so that a request whose replica
        cannot be reached is retried on another. Larger bodies stream to one replica and are not retried.""",
    ).tag(config=True)
    max_body_bytes = Int(2**30, help="Largest request body accepted (413 beyond). Bodies stream: "
                                     "this is not memory.").tag(config=True)
    keep_idle = Int(32, help="Idle kept-alive connections kept open per replica.").tag(config=True)
    max_held = Int(
        64, help="""Requests held per deployment while it wakes from zero (each waits for a ready replica, at
        most the deployment's cold_start_timeout). More get 503 with Retry-After at once.""",
    ).tag(config=True)


@dataclass
class Route:
    """Where a deployment's endpoint goes now, and who may call it."""

    deployment_id: str
    access: str  # "public" | "private"
    endpoints: tuple[str, ...]  # base URLs of ready replicas, e.g. "http://127.0.0.1:41234"
    checked: float  # time.monotonic() of the health check these endpoints passed
    clients: dict[str, ClientCredential] = field(default_factory=dict)  # private: client name -> credential
    group: str = ""  # the deployment's group: a caller from another group learns nothing of it (404)
    # scaled to zero, or waking from it: a request that finds no ready replica wakes it and is held (.forward_wake)
    wakes: bool = field(default=False, kw_only=True)
    cold_start_timeout: float = field(default=120.0, kw_only=True)  # seconds such a request is held at most


@dataclass(frozen=True)
class Stats:
    """One deployment's traffic since the runner started; latency over its last forwarded requests."""

    requests: int = 0
    errors: int = 0  # answers of 500 and above: the replicas' own and the forwarder's 502/503
    unauthorized: int = 0  # 401s
    p50_ms: float | None = None  # latency of forwarded requests
    p99_ms: float | None = None
    last_request: datetime | None = None  # UTC: the last request admitted or answered


def _wall(monotonic: float | None) -> datetime | None:
    """A ``time.monotonic()`` of the past as a UTC time."""
    if monotonic is None:
        return None
    return datetime.fromtimestamp(time.time() - (time.monotonic() - monotonic), timezone.utc)


class Deployment:
    """A route with its rotation (endpoints not taken out) and its counters; the forwarder's view."""

    __slots__ = ("route", "out", "ready", "turn", "requests", "errors", "unauthorized", "latencies", "last", "held",
                 "active", "woken")

    def __init__(self, route: Route, window: int):
        self.route, self.out, self.ready, self.turn = route, {}, [], 0
        self.requests = self.errors = self.unauthorized = 0
        self.latencies: deque[float] = deque(maxlen=window)  # seconds
        self.last: float | None = None  # time.monotonic() of the last request's arrival or answer (None: none yet)
        self.held = 0  # requests waiting for it to wake (.forward_wake)
        self.active = 0  # requests (and websocket tunnels) being forwarded to its replicas now
        self.woken: asyncio.Event | None = None  # set once a replica is ready (made by the first waiter)

    def rotate(self) -> None:
        self.ready = [e for e in self.route.endpoints if e not in self.out]
        if self.ready and self.woken is not None:
            self.woken.set()
            self.woken = None

    def pick(self) -> str | None:
        """The next ready replica, round robin (None: none is ready)."""
        ready = self.ready
        if not ready:
            return None
        self.turn += 1
        return ready[self.turn % len(ready)]

    def client(self, authorization: str | None) -> str | None:
        """Who calls: "" for a public deployment, a client's name, or None (401)."""
        if self.route.access == "public":
            return ""
        return client_for(self.route.clients, authorization, time.time())


def _percentile(xs: list[float], q: float) -> float:
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


class RouteTable:
    """The routes of every deployment the runner serves, set by its status refresh, read by the forwarder."""

    fresh_clients = None  # a private deployment's clients read again on a refused call (.forward_clients)
    waker = None  # wakes a deployment at zero (.forward_wake.Waker: the deployer)

    def __init__(self, window: int = 1000):
        self.window = window  # forwarded requests whose latency the stats keep
        self.deployments: dict[str, Deployment] = {}
        self.pool = Connections()  # idle connections to endpoints that leave the rotation are closed

    def set(self, route: Route) -> None:
        """Replace a deployment's route; replicas taken out come back once ``route.checked`` is past their failure."""
        d = self.deployments.get(route.deployment_id)
        if d is None:
            d = self.deployments[route.deployment_id] = Deployment(route, self.window)
        else:
            self.pool.prune(set(d.route.endpoints) - set(route.endpoints))
            d.route = route
        d.out = {e: t for e, t in d.out.items() if e in route.endpoints and t >= route.checked}
        d.rotate()

    def remove(self, deployment_id: str) -> None:
        d = self.deployments.pop(deployment_id, None)
        if d is not None:
            self.pool.prune(d.route.endpoints)
            if d.woken is not None:  # its waiters find it gone
                d.woken.set()

    def group_of_caller(self, authorization: str | None) -> str | None:
        """The group of the private deployment one of whose clients' valid tokens ``authorization`` carries.

        Only asked for a request that a private deployment refuses: a valid token of another group's
        deployment is answered as if this deployment did not exist.
        """
        if not authorization:
            return None
        now = time.time()
        for d in self.deployments.values():
            if d.route.access == "private" and client_for(d.route.clients, authorization, now) is not None:
                return d.route.group
        return None

    def get(self, deployment_id: str) -> Route | None:
        d = self.deployments.get(deployment_id)
        return d.route if d else None

    def stats(self, deployment_id: str) -> Stats:
        d = self.deployments.get(deployment_id)
        if d is None:
            return Stats()
        xs = sorted(d.latencies)
        if not xs:
            return Stats(d.requests, d.errors, d.unauthorized, last_request=_wall(d.last))
        return Stats(d.requests, d.errors, d.unauthorized, _percentile(xs, 0.5) * 1000, _percentile(xs, 0.99) * 1000,
                     _wall(d.last))

    def take_out(self, deployment_id: str, endpoint: str) -> None:
        """A replica that failed a request: out of the rotation until a Route checked after now arrives."""
        d = self.deployments.get(deployment_id)
        if d is not None:
            d.out[endpoint] = time.monotonic()
            d.rotate()
            self.pool.prune([endpoint])


@lru_cache(maxsize=1024)
def endpoint_parts(url: str) -> tuple[str, int, str, str]:
    """(host, port, Host header, base path) of a replica's base URL."""
    u = urlsplit(url)
    return u.hostname or "127.0.0.1", u.port or 80, u.netloc, u.path.rstrip("/")


class Connection:
    """One connection to a replica (asyncio streams: cheaper per request than tornado's IOStream, and the
    reader stays registered, so a close by the replica is seen while the connection is idle)."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class Connections:
    """Kept-alive connections to replicas: the idle ones per endpoint, the last used first."""

    def __init__(self):
        self.idle: dict[str, list[Connection]] = {}

    def take(self, endpoint: str) -> Connection | None:
        idle = self.idle.get(endpoint)
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    def give(self, endpoint: str, conn: Connection, keep: int) -> None:
        idle = self.idle.setdefault(endpoint, [])
        if len(idle) < keep and conn.usable():
            idle.append(conn)
        else:
            conn.close()

    def prune(self, endpoints) -> None:
        for endpoint in endpoints:
            for conn in self.idle.pop(endpoint, ()):
                conn.close()

    @staticmethod
    async def connect(endpoint: str, timeout: float, limit: int) -> Connection:
        """A new connection (TCP_NODELAY, as asyncio sets it); ``limit``: the longest answer head read."""
        host, port, _, _ = endpoint_parts(endpoint)
        return Connection(*await asyncio.wait_for(asyncio.open_connection(host, port, limit=limit), timeout))
