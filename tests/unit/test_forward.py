"""Deployment endpoints through the forwarder, against real tiny replicas on 127.0.0.1.

Each replica is a tornado app started in the test, recording what reached it;
the forwarder (``hub_ext.services.forward.handlers``) runs in a tornado
application on its own port, as in the runner. Requests go over real HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import datetime, timedelta, timezone

import psutil
import pytest
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from hub_ext.services.forward import ClientCredential, EndpointForwarder, Route, RouteTable, handlers, token_digest

MB = 2**20


class Replica:
    """A tiny model server: answers with what it received, records every request that reached it."""

    def __init__(self, name: str, **server_options):
        self.name = name
        self.seen: list[dict] = []
        self.first_upload_chunk = asyncio.Event()  # /upload: the first bytes arrived
        self.go_on = asyncio.Event()  # /download: send the rest
        self.uploaded = 0
        app = web.Application([(r"/upload", Upload, {"replica": self}), (r"/download", Download, {"replica": self}),
                               (r"/.*", Echo, {"replica": self})])
        self.server = HTTPServer(app, **server_options)
        [sock] = bind_sockets(0, "127.0.0.1")
        self.server.add_sockets([sock])
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def stop(self):
        self.server.stop()


class Echo(web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")

    def initialize(self, replica):
        self.replica = replica

    def check_xsrf_cookie(self):
        pass

    async def get(self):
        r = self.request
        seen = {"method": r.method, "path": r.path, "query": r.query, "headers": dict(r.headers.get_all()),
                "body": r.body.decode("latin1")}
        self.replica.seen.append(seen)
        if r.path == "/fail":
            self.set_status(500)
        if r.path == "/hop":  # hop-by-hop answer headers next to ordinary ones
            self.set_header("Keep-Alive", "timeout=5")
            self.set_header("Connection", "X-Answer-Hop")
            self.set_header("X-Answer-Hop", "1")
            self.set_header("Proxy-Authenticate", "Basic")
        if r.path == "/page":  # a page that tries to loosen the sandbox and plant a cookie on the hub's origin
            self.set_header("Content-Security-Policy", "default-src 'self'")
            self.set_header("X-Content-Type-Options", "sniff-please")
            self.add_header("Set-Cookie", "jupyterhub-session-id=planted; Path=/")
            self.add_header("Set-Cookie", "model-pref=1; Path=/")
        if r.path == "/chunks":  # an answer in pieces (chunked transfer coding)
            for i in range(3):
                self.write(f"piece {i};")
                await self.flush()
            return self.finish()
        self.set_header("X-Replica", self.replica.name)
        if r.method != "HEAD":
            self.write({"replica": self.replica.name, **seen})

    head = post = put = delete = patch = get


@web.stream_request_body
class Upload(web.RequestHandler):
    """Takes the body slowly (about 40 MB/s), as a busy model would."""

    def initialize(self, replica):
        self.replica = replica

    def check_xsrf_cookie(self):
        pass

    async def data_received(self, chunk):
        self.replica.uploaded += len(chunk)
        self.replica.first_upload_chunk.set()
        await asyncio.sleep(len(chunk) / (40 * MB))

    def post(self):
        self.finish({"received": self.replica.uploaded})


class Download(web.RequestHandler):
    """1 MB, then (once the test says the client has it) 20 MB more."""

    def initialize(self, replica):
        self.replica = replica

    async def get(self):
        self.write(b"a" * MB)
        await self.flush()
        await asyncio.wait_for(self.replica.go_on.wait(), 10)
        for _ in range(20):
            self.write(b"b" * MB)
            await self.flush()


class Forwarder:
    def __init__(self, **settings):
        self.table = RouteTable(window=100)
        self.settings = EndpointForwarder(**{"connect_timeout": 1.0, "request_timeout": 5.0, **settings})
        self.server = HTTPServer(web.Application(handlers(self.table, forwarder=self.settings)))
        [sock] = bind_sockets(0, "127.0.0.1")
        self.server.add_sockets([sock])
        self.base = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def route(self, *replicas, access="public", clients=None, deployment="m", checked=None, group="g"):
        self.table.set(Route(deployment, access, tuple(r if isinstance(r, str) else r.url for r in replicas),
                             time.monotonic() if checked is None else checked, clients or {}, group))

    async def fetch(self, path, **kwargs):
        kwargs.setdefault("request_timeout", 30)
        return await AsyncHTTPClient().fetch(self.base + path, raise_error=False, **kwargs)


@pytest.fixture
def replicas():
    made = []

    def make(name, **options):
        made.append(Replica(name, **options))
        return made[-1]

    yield make
    for r in made:
        r.stop()


@pytest.fixture
def forwarder():
    fwd = Forwarder()
    yield fwd
    fwd.server.stop()


def dead_url() -> str:
    """A port nothing listens on (bound, then closed)."""
    [sock] = bind_sockets(0, "127.0.0.1")
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


async def test_path_query_method_and_body_reach_the_replica(forwarder, replicas):
    a = replicas("a")
    forwarder.route(a)
    r = await forwarder.fetch("/deployments/m/a/b%20c?x=1&y=two", method="PUT", body=b"payload")
    assert r.code == 200 and r.headers["X-Replica"] == "a"
    got = json.loads(r.body)
    assert (got["method"], got["path"], got["query"], got["body"]) == ("PUT", "/a/b%20c", "x=1&y=two", "payload")

    for path, expected in [("/deployments/m", ("/", "")), ("/deployments/m?q=1", ("/", "q=1")),
                           ("/deployments/m/", ("/", ""))]:
        got = json.loads((await forwarder.fetch(path)).body)
        assert (got["method"], got["path"], got["query"]) == ("GET", *expected), path

    r = await forwarder.fetch("/deployments/m/x", method="HEAD")
    assert r.code == 200 and r.body == b"" and a.seen[-1]["method"] == "HEAD"


async def test_answers_in_pieces_or_up_to_the_close_arrive_whole(forwarder, replicas):
    forwarder.route(replicas("a"))
    r = await forwarder.fetch("/deployments/m/chunks")
    assert (r.code, r.body) == (200, b"piece 0;piece 1;piece 2;")

    async def old_server(reader, writer):  # HTTP/1.0, no length: the answer ends with the connection
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 201 Created\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 200_000)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(old_server, "127.0.0.1", 0)
    forwarder.route(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", deployment="old")
    r = await forwarder.fetch("/deployments/old/")
    server.close()
    assert (r.code, len(r.body), r.headers["Content-Type"]) == (201, 200_000, "text/plain")


async def test_hop_by_hop_headers_and_every_cookie_stay_behind(forwarder, replicas):
    a = replicas("a")
    forwarder.route(a)
    r = await forwarder.fetch("/deployments/m/hop", headers={
        "Connection": "close, X-Hop", "X-Hop": "1", "Keep-Alive": "timeout=5", "TE": "trailers",
        "Proxy-Authorization": "Basic eDp5", "X-Model-Option": "kept",
        "Cookie": "jupyterhub-session-id=s3cret; _xsrf=2|ab; model-pref=1; jupyterhub-hub-login=tok; theme=dark",
        "X-Forwarded-For": "10.1.2.3", "X-Forwarded-Proto": "https", "Authorization": "Bearer for-the-model",
    })
    assert r.code == 200
    seen = a.seen[-1]["headers"]
    for name in ("X-Hop", "Keep-Alive", "Te", "Proxy-Authorization"):
        assert name not in seen, name
    assert seen["X-Model-Option"] == "kept"
    assert "Cookie" not in seen  # on the hub's origin every cookie a browser sends is the hub's
    assert seen["X-Forwarded-For"] == "10.1.2.3, 127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "https"  # what the proxy in front saw
    assert seen["X-Forwarded-Host"] == forwarder.base.removeprefix("http://")
    assert seen["Host"] == a.url.removeprefix("http://")
    assert seen["Authorization"] == "Bearer for-the-model"  # public: the model's own business
    # and on the way back
    assert "X-Answer-Hop" not in r.headers and "Keep-Alive" not in r.headers
    assert "Proxy-Authenticate" not in r.headers and r.headers["X-Replica"] == "a"

    await forwarder.fetch("/deployments/m/", headers={"Cookie": "jupyterhub-session-id=s; _xsrf=x"})
    assert "Cookie" not in a.seen[-1]["headers"]


async def test_every_answer_is_sandboxed_and_sets_no_cookie(forwarder, replicas):
    """A deployment's page must not run as the hub's origin: the replica's policy is kept, ours is added
    beside it (browsers enforce both), and no cookie it sends lands on the hub's origin."""
    a = replicas("a")
    forwarder.route(a)
    r = await forwarder.fetch("/deployments/m/page")
    assert r.code == 200
    assert sorted(r.headers.get_list("Content-Security-Policy")) == ["default-src 'self'", "sandbox"]
    assert r.headers.get_list("X-Content-Type-Options") == ["nosniff"]
    assert "Set-Cookie" not in r.headers
    r = await forwarder.fetch("/deployments/m/plain")
    assert r.headers.get_list("Content-Security-Policy") == ["sandbox"] and r.headers["X-Content-Type-Options"]
    # the forwarder's own answers too
    r = await forwarder.fetch("/deployments/nothing/")
    assert r.code == 404 and r.headers["Content-Security-Policy"] == "sandbox"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_private_deployment_needs_a_valid_client_token(forwarder, replicas):
    a = replicas("a")
    now = datetime.now(timezone.utc)
    tokens = {name: f"token-of-{name}-" + "x" * 30 for name in ("ci", "old", "gone", "later")}
    clients = {
        "ci": ClientCredential(token_digest(tokens["ci"])),
        "later": ClientCredential(token_digest(tokens["later"]), expires=now + timedelta(hours=1)),
        "old": ClientCredential(token_digest(tokens["old"]), expires=now - timedelta(seconds=1)),
        "gone": ClientCredential(token_digest(tokens["gone"]), revoked=True),
    }
    forwarder.route(a, access="private", clients=clients)

    def basic(user, password):
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    refused = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": basic("ci", "wrong-token")},
        {"Authorization": basic("later", tokens["ci"])},  # a valid token under another client's name
        {"Authorization": f"Bearer {tokens['old']}"},  # expired
        {"Authorization": basic("old", tokens["old"])},
        {"Authorization": f"Bearer {tokens['gone']}"},  # revoked
        {"Authorization": f"Token {tokens['ci']}"},
    ]
    for headers in refused:
        r = await forwarder.fetch("/deployments/m/invocations", method="POST", body=b"{}", headers=headers)
        assert r.code == 401, headers
        assert r.headers["WWW-Authenticate"] == 'Basic realm="deployment m"'
        assert json.loads(r.body)["status"] == 401
    assert a.seen == []  # nothing reached the replica

    accepted = [{"Authorization": f"Bearer {tokens['ci']}"}, {"Authorization": basic("ci", tokens["ci"])},
                {"Authorization": f"bearer {tokens['later']}"}]
    for headers in accepted:
        r = await forwarder.fetch("/deployments/m/invocations", method="POST", body=b"{}", headers=headers)
        assert r.code == 200, headers
        assert "Authorization" not in a.seen[-1]["headers"]  # the client's token goes no further
    assert len(a.seen) == 3

    # revoking takes effect with the next route the runner sets
    forwarder.route(a, access="private", clients={**clients, "ci": clients["ci"]._replace(revoked=True)})
    r = await forwarder.fetch("/deployments/m/invocations", headers=accepted[0])
    assert r.code == 401 and len(a.seen) == 3
    stats = forwarder.table.stats("m")
    assert (stats.requests, stats.unauthorized) == (len(refused) + 4, len(refused) + 1)


async def test_a_client_of_another_groups_deployment_finds_no_private_deployment(forwarder, replicas):
    a, b, c = replicas("a"), replicas("b"), replicas("c")
    mine, theirs, neighbour = "t-mine-" + "x" * 30, "t-theirs-" + "y" * 30, "t-neighbour-" + "z" * 30
    forwarder.route(a, access="private", clients={"ci": ClientCredential(token_digest(mine))}, group="research")
    forwarder.route(b, access="private", clients={"ci": ClientCredential(token_digest(theirs))},
                    deployment="other", group="finance")
    forwarder.route(c, access="private", clients={"nb": ClientCredential(token_digest(neighbour))},
                    deployment="near", group="research")
    r = await forwarder.fetch("/deployments/m/invocations", headers={"Authorization": f"Bearer {theirs}"})
    assert r.code == 404 and json.loads(r.body)["message"] == "No such deployment: m"
    assert "WWW-Authenticate" not in r.headers
    # the same group's other client, and a token of nobody: 401 as before
    for token in (neighbour, "t-nobody-" + "w" * 30):
        r = await forwarder.fetch("/deployments/m/invocations", headers={"Authorization": f"Bearer {token}"})
        assert r.code == 401
    assert a.seen == []
    r = await forwarder.fetch("/deployments/other/invocations", headers={"Authorization": f"Bearer {theirs}"})
    assert r.code == 200 and len(b.seen) == 1


async def test_round_robin_over_ready_replicas(forwarder, replicas):
    forwarder.route(replicas("a"), replicas("b"))
    answered = [(await forwarder.fetch("/deployments/m/")).headers["X-Replica"] for _ in range(6)]
    assert sorted(answered) == ["a"] * 3 + ["b"] * 3
    assert all(x != y for x, y in zip(answered, answered[1:]))


async def test_a_dead_replica_is_taken_out_and_the_request_still_succeeds(forwarder, replicas):
    live, dead = replicas("live"), dead_url()
    forwarder.route(dead, live)
    before = time.monotonic()
    for _ in range(4):
        r = await forwarder.fetch("/deployments/m/invocations", method="POST", body=b'{"x": 1}')
        assert (r.code, r.headers["X-Replica"]) == (200, "live")
    assert len(live.seen) == 4 and forwarder.table.stats("m").errors == 0
    assert forwarder.table.deployments["m"].ready == [live.url]

    forwarder.route(dead, live, checked=before)  # a health check from before the failure: still out
    assert forwarder.table.deployments["m"].ready == [live.url]
    forwarder.route(dead, live)  # checked again since: back in the rotation
    assert forwarder.table.deployments["m"].ready == [dead, live.url]


async def test_a_replica_that_does_not_answer_in_time_is_taken_out(replicas):
    fwd = Forwarder(request_timeout=0.5)
    accepted = []

    async def stalled(reader, writer):  # takes the request, never answers
        accepted.append(writer)
        await reader.read(100)

    server = await asyncio.start_server(stalled, "127.0.0.1", 0)
    stuck = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    live = replicas("live")
    fwd.route(stuck, live)
    try:
        t0 = time.monotonic()
        answers = [await fwd.fetch("/deployments/m/invocations", method="POST", body=b"{}") for _ in range(2)]
        assert [r.code for r in answers] == [200, 200] and accepted
        assert time.monotonic() - t0 < 3  # one wait of request_timeout, then the stuck one is out
        assert fwd.table.deployments["m"].ready == [live.url]
    finally:
        server.close()
        fwd.server.stop()


async def test_no_replica_ready_answers_503_with_retry_after_at_once():
    fwd = Forwarder(retry_after=7)
    try:
        fwd.route()  # stopped: no endpoints
        t0 = time.monotonic()
        r = await fwd.fetch("/deployments/m/invocations", method="POST", body=b"{}")
        assert time.monotonic() - t0 < 1
        assert (r.code, r.headers["Retry-After"]) == (503, "7")
        assert r.headers["Content-Type"] == "application/json" and "m" in json.loads(r.body)["message"]

        fwd.route(dead_url())  # its only replica is down: 502 for the request that found out, then 503
        assert (await fwd.fetch("/deployments/m/")).code == 502
        r = await fwd.fetch("/deployments/m/")
        assert (r.code, r.headers["Retry-After"]) == (503, "7")
        assert fwd.table.stats("m").errors == 3
    finally:
        fwd.server.stop()


async def test_unknown_deployment_is_404(forwarder):
    r = await forwarder.fetch("/deployments/nope/invocations", method="POST", body=b"{}")
    assert r.code == 404
    assert json.loads(r.body) == {"status": 404, "message": "No such deployment: nope"}


async def test_a_large_upload_streams_through_without_being_held(forwarder, replicas):
    """100 MB, chunked, to a replica that reads slowly: it starts getting bytes before the client
    has sent 3 MB (the client waits for that), and the forwarder's memory never holds the body."""
    a = replicas("a")
    forwarder.route(a)
    proc = psutil.Process()
    base_rss, peak = proc.memory_info().rss, [0]

    async def watch():
        while True:
            peak[0] = max(peak[0], proc.memory_info().rss - base_rss)
            await asyncio.sleep(0.02)

    async def produce(write):
        piece = b"z" * (256 * 1024)
        for i in range(400):
            if i == 12:  # 3 MB sent: the replica must have some already, or the forwarder is holding it
                await asyncio.wait_for(a.first_upload_chunk.wait(), 10)
            await write(piece)

    watcher = asyncio.ensure_future(watch())
    try:
        r = await AsyncHTTPClient().fetch(HTTPRequest(forwarder.base + "/deployments/m/upload", method="POST",
                                                      body_producer=produce, request_timeout=60))
    finally:
        watcher.cancel()
    assert json.loads(r.body) == {"received": 100 * MB}
    assert peak[0] < 40 * MB, f"memory grew by {peak[0] / MB:.0f} MB"

    # a body of known length, above what is held for a retry, arrives whole too
    a.uploaded = 0
    r = await forwarder.fetch("/deployments/m/upload", method="POST", body=b"q" * (3 * MB))
    assert json.loads(r.body) == {"received": 3 * MB}


async def test_a_large_answer_streams_back_as_it_comes(forwarder, replicas):
    a = replicas("a")
    forwarder.route(a)
    got = []

    def on_chunk(chunk):
        got.append(len(chunk))
        a.go_on.set()  # the replica sends the rest only once the client has the first part

    r = await forwarder.fetch("/deployments/m/download", streaming_callback=on_chunk)
    assert r.code == 200 and sum(got) == 21 * MB


async def test_a_kept_alive_connection_the_replica_closed_is_no_failure(forwarder, replicas):
    a = replicas("a", idle_connection_timeout=0.2)
    forwarder.route(a)
    assert (await forwarder.fetch("/deployments/m/")).code == 200
    await asyncio.sleep(0.6)  # the replica closes the idle connection the forwarder kept
    assert (await forwarder.fetch("/deployments/m/")).code == 200
    assert forwarder.table.deployments["m"].ready == [a.url]
    assert forwarder.table.stats("m").errors == 0


async def test_stats_count_requests_errors_and_latency(forwarder, replicas):
    forwarder.route(replicas("a"), access="private", clients={"c": ClientCredential(token_digest("t" * 40))})
    ok = {"Authorization": "Bearer " + "t" * 40}
    for _ in range(3):
        await forwarder.fetch("/deployments/m/", headers=ok)
    await forwarder.fetch("/deployments/m/fail", headers=ok)
    await forwarder.fetch("/deployments/m/")
    s = forwarder.table.stats("m")
    assert (s.requests, s.errors, s.unauthorized) == (5, 1, 1)
    assert 0 < s.p50_ms <= s.p99_ms < 5000
    assert forwarder.table.stats("other").requests == 0


async def test_a_bug_in_the_forwarder_answers_502_instead_of_a_hang(forwarder, replicas, monkeypatch):
    import hub_ext.services.forward_relay as relay

    def broken(text):
        raise RuntimeError("a bug")

    monkeypatch.setattr(relay, "parse_head", broken)
    forwarder.route(replicas("a"))
    r = await forwarder.fetch("/deployments/m/", request_timeout=5)
    assert r.code == 502 and "runner's log" in json.loads(r.body)["message"]
    assert forwarder.table.deployments["m"].ready  # the replica did nothing wrong
