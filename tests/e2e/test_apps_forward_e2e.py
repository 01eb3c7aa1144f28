"""Apps end to end: the real hub, configurable-http-proxy and the runner serving each app at its own origin
(``http://<app>--<group>.apps.localhost:<apps port>``; this process reaches ``*.localhost`` at the loopback as
browsers do, :func:`support.resolve_localhost`).

An ``apps`` row is put into the portal DB for an operator template ``echo`` (a small tornado app:
an HTTP echo and a websocket echo); the runner's apps loop starts it as the group's service
account and its routes follow the row. Access is checked by the runner against the hub: a
member's browser logs in through the hub's OAuth, a notebook-style client sends its hub token,
and removing the member from the group refuses their very next request.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from urllib.parse import urlsplit

import pytest
import requests
import websocket
import yaml
from sqlalchemy import select, update

from hub_ext.store import session_scope
from hub_ext.store.models_apps import App
from support import (REPO, RealHub, need, proxy_command, resolve_localhost, run_in_server, stop_leftover_servers,
                     wait_for_server)

resolve_localhost()
# a notebook's Python, likewise (glibc may not resolve *.localhost; browsers and systemd-resolved do)
RESOLVE = ("import socket\n_real = socket.getaddrinfo\n"
           "socket.getaddrinfo = lambda h, *a, **k: _real('127.0.0.1' if str(h).endswith('.localhost') else h, *a, **k)\n")

pytestmark = [pytest.mark.e2e, pytest.mark.isolation]

PASSWORD = "apps-Passw0rd!"
BROWSER = {"Accept": "text/html,application/xhtml+xml"}

# The app: answers every path with what reached it; /…/ws echoes websocket messages.
APP = r"""
import asyncio, sys
from tornado import web, websocket

class Echo(web.RequestHandler):
    def get(self):
        self.finish({"path": self.request.uri, "headers": dict(self.request.headers.get_all())})

class Ws(websocket.WebSocketHandler):
    def on_message(self, message):
        return self.write_message("echo: " + message)

async def main():
    web.Application([(r".*/ws", Ws), (r".*", Echo)]).listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()

asyncio.run(main())
"""
TEMPLATE = {"name": "echo", "display_name": "Echo", "health_path": "{prefix}/",
            "local": {"command": f"exec python3 -c {shlex.quote(APP)} {{port}}"}}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "apps run as their group's service account: the hub must run as root (as in CI)")
    work = tmp_path_factory.mktemp("apps-e2e")
    catalog = yaml.safe_load((REPO / "config" / "hubfront.yaml").read_text())
    catalog["catalog"]["instance_types"] += [{"name": "tiny", "cpu": "250m", "memory": "256Mi"}]
    catalog["groups"] = {}
    (work / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    (work / "config.py").write_text(
        f"load_subconfig({str(REPO / 'jupyterhub_config.py')!r})\n"
        f"c.Apps.templates = [{TEMPLATE!r}]\n"
        "c.Apps.enabled = ['echo']\n")
    hub = RealHub(work / "data", env={"HUBFRONT_CATALOG": str(work / "catalog.yaml")}, config=work / "config.py")
    hub.start()
    try:
        admin = hub.admin()
        for group in ("lab", "other"):
            assert admin.api("POST", f"/groups/{group}").status_code == 201
            r = admin.api("PUT", f"/portal/groups/{group}/policy",
                          json={"policy": {"instance_types": ["tiny", "cpu-small"]}})
            assert r.status_code == 200, r.text
        hub.add_user("alice", PASSWORD, ["lab"])
        hub.add_user("olga", PASSWORD, ["other"])
        with session_scope(hub.portal_db_url) as s:
            s.add(App(group="lab", name="echo", template="echo", username="alice", instance_type="tiny",
                      cpu=0.25, memory=256 * 2**20, access="group"))
        until = time.monotonic() + 120
        while (row := the_app(hub)).phase != "Running":
            assert time.monotonic() < until and row.phase != "Failed", (row.phase, row.message, hub.log_tail())
            time.sleep(0.3)
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)  # apps outlive the runner by design


def the_app(hub) -> App:
    with session_scope(hub.portal_db_url) as s:
        return s.scalars(select(App).where(App.group == "lab", App.name == "echo")).one()


def app_url(hub, path=""):
    return f"{hub.app_origin('lab', 'echo')}/{path}"


def cookie_hosts(session, name="hubfront-apps"):
    return sorted(c.domain for c in session.cookies if c.name == name)


def set_access(hub, access):
    with session_scope(hub.portal_db_url) as s:
        s.execute(update(App).where(App.group == "lab", App.name == "echo").values(access=access))


def eventually(get, check, timeout=30.0):
    """``get()`` until ``check`` holds of its answer (the runner reads the rows every quarter second)."""
    until = time.monotonic() + timeout
    while True:
        r = get()
        if check(r) or time.monotonic() > until:
            return r
        time.sleep(0.1)


@pytest.fixture(scope="module")
def alice_browser(hub):
    """Alice's browser: logged in to the hub, then to the apps through the hub's OAuth."""
    s = hub.login("alice", PASSWORD)
    r = eventually(lambda: s.get(app_url(hub, "page?x=1"), headers=BROWSER, timeout=10), lambda r: r.status_code != 404)
    assert r.status_code == 200, (r.status_code, r.url, r.text[:300])
    hops = [h.headers.get("Location", "") for h in r.history]
    assert any(h.startswith(f"{hub.base_url}/hub/api/oauth2/authorize") for h in hops)
    assert any(h.startswith("/apps/oauth_callback") or "/apps/oauth_callback" in h for h in hops)
    assert any(h.startswith(app_url(hub, ".hubfront-login?ticket=")) for h in hops)
    return s


def test_a_member_logs_in_through_the_hub_and_reaches_the_app(hub, alice_browser):
    r = alice_browser.get(app_url(hub, "page?x=1"), headers=BROWSER, timeout=10)
    assert r.status_code == 200 and not r.history  # the cookie: no more round trips
    seen = r.json()
    assert seen["path"] == "/page?x=1"
    cookies = seen["headers"].get("Cookie", "")
    assert "jupyterhub" not in cookies and "hubfront-apps" not in cookies and "_xsrf" not in cookies
    assert seen["headers"]["X-Forwarded-User"] == "alice"
    assert cookie_hosts(alice_browser) == [urlsplit(app_url(hub)).hostname]  # the app's host only
    # the old address on the hub's origin: GET is sent to the app's origin, nothing else is served there
    r = alice_browser.get(f"{hub.base_url}/apps/lab/echo/page?x=1", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == app_url(hub, "page?x=1")
    r = alice_browser.post(f"{hub.base_url}/apps/lab/echo/page", data="x", allow_redirects=False, timeout=10)
    assert r.status_code == 404


def test_the_websocket_goes_through_the_proxy_with_the_cookie_only(hub, alice_browser):
    ws_url = app_url(hub, "ws").replace("http://", "ws://")
    cookie = f"hubfront-apps={alice_browser.cookies.get('hubfront-apps')}"
    ws = websocket.create_connection(ws_url, cookie=cookie, timeout=10)
    try:
        ws.send("hello")
        assert ws.recv() == "echo: hello"
        ws.send("x" * 200_000)
        assert ws.recv() == "echo: " + "x" * 200_000
    finally:
        ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(ws_url, timeout=10)
    assert refused.value.status_code == 401


def test_a_notebook_style_token_is_enough(hub):
    alice = hub.login("alice", PASSWORD)
    # as narrow as a token gets: /hub/api/user tells its owner's groups whatever its scopes
    r = alice.api("POST", "/users/alice/tokens", json={"note": "apps", "scopes": ["read:users:activity!user"]})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    for authorization in [f"token {token}", f"Bearer {token}"]:
        r = requests.get(app_url(hub, "api/2.0/x"), headers={"Authorization": authorization}, timeout=10)
        assert r.status_code == 200, r.text
        assert "Authorization" not in r.json()["headers"]
    r = requests.get(app_url(hub), headers={"Authorization": "token not-a-token"}, timeout=10)
    assert r.status_code == 401


def test_a_notebook_reaches_the_app_with_its_own_api_token(hub):
    alice = hub.login("alice", PASSWORD)
    r = alice.api("POST", "/users/alice/servers/lab", json={"group": "lab", "instance_type": "cpu-small"})
    assert r.status_code in (201, 202), r.text
    wait_for_server(alice, "alice", "lab", hub=hub)
    code = (RESOLVE + "import json, os, urllib.request\n"
            f"request = urllib.request.Request({app_url(hub, 'from-notebook')!r}, headers={{\n"
            "    'Authorization': 'token ' + os.environ['JUPYTERHUB_API_TOKEN']})\n"
            "with urllib.request.urlopen(request, timeout=10) as r:\n"
            "    print(json.dumps({'status': r.status, 'user': json.load(r)['headers'].get('X-Forwarded-User')}))\n")
    assert json.loads(run_in_server(alice, "alice", "lab", code)) == {"status": 200, "user": "alice"}
    alice.api("DELETE", "/users/alice/servers/lab")


def test_strangers_are_refused(hub):
    r = requests.get(app_url(hub), timeout=10)  # an API client without credentials
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Bearer realm="apps"'
    r = requests.get(app_url(hub), headers=BROWSER, timeout=10)  # a browser: to the hub's login
    assert r.status_code == 200 and "/hub/login" in r.url
    olga = hub.login("olga", PASSWORD)  # logged in, another group's member: no such app
    r = olga.get(app_url(hub), headers=BROWSER, timeout=10)
    assert r.status_code == 404 and "No such app" in r.text
    r = olga.get(app_url(hub).replace("echo--", "nothing--"), headers=BROWSER, timeout=10)
    assert r.status_code == 404


def test_removing_the_member_refuses_their_next_request(hub, alice_browser):
    token = hub.login("alice", PASSWORD).api("POST", "/users/alice/tokens", json={"note": "n"}).json()["token"]
    assert alice_browser.get(app_url(hub), headers=BROWSER, timeout=10).status_code == 200
    r = hub.admin().api("DELETE", "/groups/lab/users", json={"users": ["alice"]})
    assert r.status_code == 200, r.text
    assert alice_browser.get(app_url(hub), headers=BROWSER, timeout=10).status_code == 404
    r = requests.get(app_url(hub), headers={"Authorization": f"token {token}"}, timeout=10)
    assert r.status_code == 404
    hub.admin().api("POST", "/groups/lab/users", json={"users": ["alice"]}).raise_for_status()
    assert alice_browser.get(app_url(hub), headers=BROWSER, timeout=10).status_code == 200  # at once, too


def test_logging_out_of_the_hub_logs_out_of_the_apps(hub):
    s = hub.login("alice", PASSWORD)
    r = s.get(app_url(hub), headers=BROWSER, timeout=10)
    assert r.status_code == 200 and s.cookies.get("hubfront-apps")
    s.get(f"{hub.base_url}/hub/logout", timeout=10)
    r = s.get(app_url(hub), headers=BROWSER, timeout=10)  # the cookie's token was revoked with the session
    assert r.status_code == 200 and "/hub/login" in r.url and "X-Forwarded-User" not in r.text


def test_a_public_app_answers_anyone_and_a_stopped_one_503(hub):
    set_access(hub, "public")
    r = eventually(lambda: requests.get(app_url(hub, "open"), timeout=10), lambda r: r.status_code == 200)
    assert r.status_code == 200 and r.json()["path"] == "/open"
    assert "X-Forwarded-User" not in r.json()["headers"]
    with session_scope(hub.portal_db_url) as s:  # its group's admin stops it
        s.execute(update(App).where(App.group == "lab", App.name == "echo").values(stopped=True))
    r = eventually(lambda: requests.get(app_url(hub), timeout=10), lambda r: r.status_code == 503, timeout=60)
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert "is not running" in json.loads(r.text)["message"]


def test_an_app_with_an_idle_timeout_runs_while_asked_and_stops_once_left_alone(hub):
    from hub_ext.ledger import Ledger

    with session_scope(hub.portal_db_url) as s:  # started again, public, stopped after 4 s without requests
        s.execute(update(App).where(App.group == "lab", App.name == "echo").values(
            stopped=False, phase="Starting", reason="", restarts=0, access="public", idle_timeout=4))
    r = eventually(lambda: requests.get(app_url(hub, "busy"), timeout=10), lambda r: r.status_code == 200, 90)
    assert r.status_code == 200
    asked_until = time.monotonic() + 10  # asked every half second for longer than its idle timeout
    while time.monotonic() < asked_until:
        assert requests.get(app_url(hub, "busy"), timeout=10).status_code == 200
        time.sleep(0.5)

    def row() -> App:
        with session_scope(hub.portal_db_url) as s:
            return s.scalars(select(App).where(App.group == "lab", App.name == "echo")).one()

    until = time.monotonic() + 60
    while row().phase != "Stopped":  # left alone, it stops, saying why, and gives its reservation back
        assert time.monotonic() < until, "the idle app was not stopped"
        time.sleep(0.2)
    assert (row().stopped, row().reason, row().message) == (True, "Idle", "Stopped after 4 s without requests")
    until = time.monotonic() + 60
    while Ledger(hub.portal_db_url).reservations(kind="app"):
        assert time.monotonic() < until, "the stopped app's reservation was not released"
        time.sleep(0.2)
