"""Apps through the forwarder, each at its own host name: routes, access checked against a hub on every
request, the browser's login across origins with its one-time ticket, websockets, the old addresses on the
hub's origin. Real sockets throughout: the app is a tornado server (HTTP echo + websocket
echo), a tiny tornado server stands for the hub's ``/hub/api/user`` and OAuth endpoints, and the
forwarder runs in its own tornado server, as in the runner.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import update
from tornado import web, websocket
from tornado.httpclient import HTTPClientError, HTTPRequest

from hub_ext.apps.origin import HostMap
from hub_ext.services.app_access import COOKIE, safe_path
from hub_ext.services.forward_apps import follow_apps, read_routes, sync_routes
from hub_ext.services.forward_routes import RouteTable
from hub_ext.store import session_scope
from hub_ext.store.models_apps import App
from support_apps import ORIGIN, Apps, FakeHub, host, serve


class Upstream:
    """The app: ``/…/ws`` echoes websocket messages, anything else answers with what reached it."""

    def __init__(self):
        self.seen: list[dict] = []
        up = self

        class Echo(web.RequestHandler):
            def get(self):
                r = self.request
                up.seen.append({"path": r.uri, "headers": dict(r.headers.get_all())})
                self.finish({"path": r.uri, "headers": dict(r.headers.get_all())})

            post = get

            def check_xsrf_cookie(self):
                pass

        class Ws(websocket.WebSocketHandler):
            def prepare(self):
                up.seen.append({"path": self.request.uri, "headers": dict(self.request.headers.get_all())})

            def on_message(self, message):
                return self.write_message(message)

        self.server, self.url = serve(web.Application([(r".*/ws", Ws), (r".*", Echo)]))


@pytest.fixture
async def hub():
    h = FakeHub()
    h.user("tok-ann", "ann", ["g"])
    h.user("tok-bob", "bob", ["other"])
    h.user("tok-root", "root", [], admin=True)
    yield h
    h.server.stop()


@pytest.fixture
async def upstream():
    up = Upstream()
    yield up
    up.server.stop()


@pytest.fixture
async def apps(hub):
    a = Apps(hub)
    yield a
    a.server.stop()
    a.hub_server.stop()
    await a.server.close_all_connections()


def token(t):
    return {"Authorization": f"token {t}"}


async def test_a_public_app_answers_anyone_and_gets_no_credential(apps, upstream, hub):
    apps.route("pub", upstream, access="public")
    r = await apps.at("pub", "/a/b?x=1", headers={
        "Authorization": "token tok-ann", "X-Forwarded-User": "admin",
        "Cookie": f"{COOKIE}=sealed; jupyterhub-session-id=s; {COOKIE}-oauth-n=1; _xsrf=x; app=1"})
    assert r.code == 200
    seen = json.loads(r.body)
    assert seen["path"] == "/a/b?x=1"  # at the root of its own origin
    assert "Authorization" not in seen["headers"] and "X-Forwarded-User" not in seen["headers"]
    assert seen["headers"]["Cookie"] == "_xsrf=x; app=1"  # its own host's cookies, its _xsrf included
    assert seen["headers"]["Host"] == host("pub")  # the client's Host, not the app's address
    assert hub.asked == []  # a public app needs no check


async def test_hosts_map_to_apps_by_lookup_and_unknown_hosts_are_404(apps, upstream):
    apps.route("a", upstream, access="public")
    apps.route("a", upstream, access="public", group="Data Science (EU)")  # a name no host can hold
    assert host("a", "Data Science (EU)").startswith("a--data-science-eu-")
    r = await apps.at("a", "/x", group="Data Science (EU)")
    assert r.code == 200 and json.loads(r.body)["path"] == "/x"
    for wrong in ["nope--g.apps.test", "a--g.apps.test.evil.example", "a--data-science-eu.apps.test", "apps.test", ""]:
        r = await apps.fetch("/x", headers={"Host": wrong})
        assert r.code == 404 and r.headers["Content-Type"] == "application/json", wrong
    r = await apps.at("a", "/", group="other")
    assert r.code == 404
    r = await apps.fetch("/", headers={"Host": "nope--g.apps.test", "Accept": "text/html,*/*"})
    assert r.code == 404 and b"<h1>404 Not Found</h1>" in r.body
    assert b'href="https://hub.test/hub/home"' in r.body  # back to the hub's own origin
    assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_old_addresses_on_the_hubs_origin_only_redirect(apps, upstream):
    apps.route("a", upstream, access="public", group="data team")
    r = await apps.on_hub("/apps/data%20team/a/x/y?q=1")
    assert r.code == 302 and r.headers["Location"] == f"https://{host('a', 'data team')}/x/y?q=1"
    r = await apps.on_hub("/apps/data%20team/a")
    assert r.code == 302 and r.headers["Location"] == f"https://{host('a', 'data team')}/"
    for method, body in [("POST", b"x"), ("PUT", b"x"), ("DELETE", None)]:
        r = await apps.on_hub("/apps/data%20team/a/x", method=method, body=body)
        assert r.code == 404, method
    assert (await apps.on_hub("/apps/g/nope/")).code == 404
    assert upstream.seen == []  # nothing is ever served on the hub's origin


async def test_an_old_address_of_a_group_whose_name_needs_encoding_redirects_to_the_apps_root(apps, upstream):
    apps.route("mlflow", upstream, access="public", group="Data Science (EU)")
    origin = f"https://{host('mlflow', 'Data Science (EU)')}"
    assert "%" not in origin and " " not in origin and "(" not in origin
    # as browsers send it (parentheses kept) and fully encoded: the same app, the rest at its origin's root
    for segment in ["Data%20Science%20(EU)", "Data%20Science%20%28EU%29", "Data+Science+%28EU%29"]:
        r = await apps.on_hub(f"/apps/{segment}/mlflow/health?x=1")
        if "+" in segment:  # a plus is a plus in a path, not a space: no such group
            assert r.code == 404
            continue
        assert r.code == 302 and r.headers["Location"] == f"{origin}/health?x=1", segment
    r = await apps.at("mlflow", "/health", group="Data Science (EU)")
    assert r.code == 200 and json.loads(r.body)["path"] == "/health"


async def test_a_group_app_lets_in_members_and_admins_only_asking_the_hub_each_time(apps, upstream, hub):
    apps.route("mlflow", upstream)
    r = await apps.at("mlflow", "/api", headers=token("tok-ann"))
    assert r.code == 200
    seen = json.loads(r.body)["headers"]
    assert seen["X-Forwarded-User"] == "ann" and "Authorization" not in seen
    assert (await apps.at("mlflow", "/", headers={"Authorization": "Bearer tok-ann"})).code == 200
    assert (await apps.at("mlflow", "/", headers=token("tok-root"))).code == 200  # a hub admin
    r = await apps.at("mlflow", "/", headers=token("tok-bob"))  # another group's member
    assert r.code == 404 and "No such app" in json.loads(r.body)["message"]
    for headers in [{}, token("forged"), {"Authorization": "Basic YTpi"}]:
        r = await apps.at("mlflow", "/", headers=headers)
        assert r.code == 401 and r.headers["WWW-Authenticate"] == 'Bearer realm="apps"', headers
    assert hub.asked == ["tok-ann", "tok-ann", "tok-root", "tok-bob", "forged"]
    assert len(upstream.seen) == 3  # nothing refused reached the app

    hub.user("tok-ann", "ann", [])  # ann leaves the group: her next request is refused
    assert (await apps.at("mlflow", "/", headers=token("tok-ann"))).code == 404
    del hub.users["tok-ann"]  # her token is revoked (she logged out)
    assert (await apps.at("mlflow", "/", headers=token("tok-ann"))).code == 401


async def test_requests_during_a_check_share_it_and_the_next_one_asks_again(apps, upstream, hub):
    apps.route("mlflow", upstream)
    hub.slow.clear()  # the hub takes its time: three requests of the same credential arrive meanwhile
    pending = [asyncio.ensure_future(apps.at("mlflow", "/", headers=token("tok-ann"))) for _ in range(3)]
    while apps.table.deployments["g/mlflow"].requests < 3:  # all three arrived (and wait for the check)
        await asyncio.sleep(0.01)
    hub.slow.set()
    assert [r.code for r in await asyncio.gather(*pending)] == [200, 200, 200]
    assert (await apps.at("mlflow", "/", headers=token("tok-ann"))).code == 200
    assert hub.asked == ["tok-ann", "tok-ann"]  # one check for the three, then one for the next request


async def test_a_users_app_lets_in_any_logged_in_user_but_no_service(apps, upstream, hub):
    apps.route("board", upstream, access="users")
    assert (await apps.at("board", "/", headers=token("tok-bob"))).code == 200
    hub.user("tok-svc", "some-service", kind="service")
    assert (await apps.at("board", "/", headers=token("tok-svc"))).code == 404
    assert (await apps.at("board", "/")).code == 401


async def test_an_app_not_running_is_503_for_those_let_in_and_404_for_others(apps, hub):
    apps.route("mlflow", None, phase="Starting")
    r = await apps.at("mlflow", "/", headers=token("tok-ann"))
    assert r.code == 503 and r.headers["Retry-After"] == "5"
    assert "not running (Starting)" in json.loads(r.body)["message"]
    assert (await apps.at("mlflow", "/", headers=token("tok-bob"))).code == 404
    apps.route("pub", None, access="public", phase="Installing")
    r = await apps.at("pub", "/", headers={"Accept": "text/html"})  # a browser looks again by itself
    assert r.code == 503 and b'<meta http-equiv="refresh" content="5">' in r.body and b"(Installing)" in r.body


async def test_a_hub_that_does_not_answer_refuses_the_request(apps, upstream, hub):
    apps.route("mlflow", upstream)
    hub.server.stop()
    await hub.server.close_all_connections()
    r = await apps.at("mlflow", "/", headers=token("tok-ann"))
    assert r.code == 503 and "hub cannot be reached" in json.loads(r.body)["message"]
    assert upstream.seen == []


async def test_a_browser_logs_in_through_the_hub_with_a_one_time_ticket_for_the_apps_host(apps, upstream, hub):
    apps.route("mlflow", upstream)
    apps.route("other", upstream)
    browser = {"Accept": "text/html,application/xhtml+xml"}
    r = await apps.at("mlflow", "/experiments?id=1", headers=browser)
    assert r.code == 302
    login = urlsplit(r.headers["Location"])
    assert (login.scheme, login.netloc, login.path) == ("https", "hub.test", "/hub/api/oauth2/authorize")
    query = {k: v[0] for k, v in parse_qs(login.query).items()}
    assert (query["client_id"], query["redirect_uri"], query["response_type"]) == \
        ("service-hubfront-runner", "/apps/oauth_callback", "code")
    state_cookie = r.headers["Set-Cookie"].split(";")[0]
    attrs = {p.strip() for p in r.headers["Set-Cookie"].split(";")}
    assert {"Path=/", "HttpOnly", "SameSite=Lax"} <= attrs and not any(a.startswith("Domain") for a in attrs)

    # the hub logs ann in and sends the browser back, on the hub's origin, with a code
    hub.codes["code-1"] = "tok-ann"
    callback = "/apps/oauth_callback?" + urlencode({"code": "code-1", "state": query["state"]})
    r = await apps.on_hub(callback)
    assert r.code == 302 and not r.headers.get_list("Set-Cookie")  # no credential on the hub's origin
    assert hub.token_requests[-1]["redirect_uri"] == "/apps/oauth_callback"
    back = urlsplit(r.headers["Location"])
    assert (back.scheme, back.netloc, back.path) == ("https", host("mlflow"), "/.hubfront-login")
    ticket_path = f"{back.path}?{back.query}"
    assert "tok-ann" not in r.headers["Location"]

    # the ticket is good for that host only, with the browser's login cookie only, once only
    assert (await apps.at("other", ticket_path, headers={"Cookie": state_cookie})).code == 400
    r = await apps.on_hub(callback)  # the code was used: no second ticket
    assert r.code == 400
    hub.codes["code-2"] = "tok-ann"
    r = await apps.on_hub("/apps/oauth_callback?" + urlencode({"code": "code-2", "state": query["state"]}))
    ticket_path = urlsplit(r.headers["Location"]).path + "?" + urlsplit(r.headers["Location"]).query
    assert (await apps.at("mlflow", ticket_path)).code == 400  # a browser that did not start this login
    hub.codes["code-3"] = "tok-ann"
    r = await apps.on_hub("/apps/oauth_callback?" + urlencode({"code": "code-3", "state": query["state"]}))
    ticket_path = urlsplit(r.headers["Location"]).path + "?" + urlsplit(r.headers["Location"]).query
    r = await apps.at("mlflow", ticket_path, headers={"Cookie": state_cookie})
    assert r.code == 302 and r.headers["Location"] == "/experiments?id=1"
    assert (await apps.at("mlflow", ticket_path, headers={"Cookie": state_cookie})).code == 400  # spent
    cookies = r.headers.get_list("Set-Cookie")
    [session] = [c for c in cookies if c.startswith(COOKIE + "=")]
    attrs = {p.strip() for p in session.split(";")}
    assert {"Path=/", "HttpOnly", "SameSite=Lax", "Secure"} <= attrs and not any(a.startswith("Domain") for a in attrs)
    assert "tok-ann" not in session  # encrypted
    jar = session.split(";")[0]

    r = await apps.at("mlflow", "/experiments?id=1", headers={**browser, "Cookie": jar + "; app=1"})
    assert r.code == 200
    seen = json.loads(r.body)["headers"]
    assert seen["Cookie"] == "app=1" and seen["X-Forwarded-User"] == "ann"


async def test_an_app_cannot_set_the_apps_credential_or_a_hub_cookie(apps, hub):
    class Planter(web.RequestHandler):
        def get(self):
            for cookie in [f"{COOKIE}=forged; Path=/", "jupyterhub-session-id=x", "app-pref=1; Path=/"]:
                self.add_header("Set-Cookie", cookie)
            self.finish("ok")

    server, url = serve(web.Application([(r".*", Planter)]))
    try:
        apps.route("pub", type("U", (), {"url": url})(), access="public")
        r = await apps.at("pub", "/")
        assert r.headers.get_list("Set-Cookie") == ["app-pref=1; Path=/"]
        assert r.headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" not in r.headers
    finally:
        server.stop()


def test_a_login_returns_only_to_a_path_of_the_apps_own_origin():
    assert safe_path("/experiments?id=1") == "/experiments?id=1"
    for bad in ["https://elsewhere.example/", "//elsewhere.example/x", "/\\elsewhere.example", "/\t/evil", "x",
                "/%2F%2Felsewhere.example", "/\u202e/x", "/\x7f"]:
        assert safe_path(bad) == "/", bad


async def test_websockets_of_a_group_app_are_checked_before_the_upgrade(apps, upstream, hub):
    apps.route("code", upstream)
    ws_url, at_code = apps.base.replace("http", "ws") + "/ws", {"Host": host("code")}
    with pytest.raises(HTTPClientError) as refused:
        await websocket.websocket_connect(HTTPRequest(ws_url, headers=at_code))
    assert refused.value.code == 401 and upstream.seen == []
    with pytest.raises(HTTPClientError) as refused:
        await websocket.websocket_connect(HTTPRequest(ws_url, headers={**at_code, **token("tok-bob")}))
    assert refused.value.code == 404 and upstream.seen == []

    sealed = apps.access.seal("tok-ann")
    ws = await websocket.websocket_connect(HTTPRequest(ws_url, headers={**at_code, "Cookie": f"{COOKIE}={sealed}"}))
    await ws.write_message("hello")
    assert await asyncio.wait_for(ws.read_message(), 10) == "hello"
    ws.close()
    [seen] = upstream.seen
    assert seen["path"] == "/ws" and "Cookie" not in seen["headers"]


# -- routes from the DB ----------------------------------------------------------------------------------
def add_app(url, name, group="g", **fields):
    values = {"template": "mlflow", "username": "ann", "instance_type": "cpu-small", **fields}
    with session_scope(url) as s:
        s.add(App(group=group, name=name, **values))


def test_routes_follow_the_rows(sqlite_url):
    add_app(sqlite_url, "mlflow", phase="Running", endpoint="http://127.0.0.1:4000")
    add_app(sqlite_url, "code", template="code-server", access="users", phase="Starting", endpoint="")
    add_app(sqlite_url, "gone", phase="Running", endpoint="http://127.0.0.1:4001", delete_requested=True)
    add_app(sqlite_url, "odd", phase="Running", endpoint="", access="everyone")
    routes = read_routes(sqlite_url)
    assert sorted(routes) == ["g/code", "g/mlflow", "g/odd"]
    assert routes["g/mlflow"].endpoints == ("http://127.0.0.1:4000",)
    assert routes["g/code"].endpoints == ()
    assert (routes["g/code"].access, routes["g/code"].phase) == ("users", "Starting")
    assert routes["g/odd"].endpoints == () and routes["g/odd"].access == "group"  # unknown access: the strictest

    table, hosts = RouteTable(), HostMap(ORIGIN)
    sync_routes(table, routes, hosts)
    assert table.deployments["g/mlflow"].ready == ["http://127.0.0.1:4000"]
    assert hosts.find("MLFLOW--g.apps.test:443") == ("g", "mlflow") and hosts.find("gone--g.apps.test") is None
    table.take_out("g/mlflow", "http://127.0.0.1:4000")
    with session_scope(sqlite_url) as s:
        s.execute(update(App).where(App.name == "odd").values(delete_requested=True))
    sync_routes(table, read_routes(sqlite_url))
    assert sorted(table.deployments) == ["g/code", "g/mlflow"]
    assert table.deployments["g/mlflow"].ready == ["http://127.0.0.1:4000"]  # back with the next read


async def test_the_follow_loop_routes_an_app_once_its_row_says_running(sqlite_url, hub, upstream):
    apps = Apps(hub)
    add_app(sqlite_url, "mlflow", phase="Starting", access="public")
    task = asyncio.ensure_future(follow_apps(sqlite_url, apps.table, apps.access.hosts, interval=0.05))
    try:
        for _ in range(100):
            if "g/mlflow" in apps.table.deployments:
                break
            await asyncio.sleep(0.05)
        assert (await apps.at("mlflow", "/")).code == 503
        with session_scope(sqlite_url) as s:
            s.execute(update(App).where(App.name == "mlflow").values(phase="Running", endpoint=upstream.url))
        for _ in range(100):
            r = await apps.at("mlflow", "/")
            if r.code == 200:
                break
            await asyncio.sleep(0.05)
        assert r.code == 200
    finally:
        task.cancel()
        apps.server.stop()
        apps.hub_server.stop()
