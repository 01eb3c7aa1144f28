"""Hubfront with JupyterHub's ``subdomain_host`` (the production recommendation: each user's servers on
their own host, never the hub's origin): the portal's pages and APIs answer at the hub's host, launching
sends the browser to the server on the user's subdomain, the portal links there, and the proxy still sends
deployments and the apps' login return to the runner (host-routed). ``*.localhost`` names reach the
loopback here as in browsers (:func:`support.resolve_localhost`)."""

from __future__ import annotations

import asyncio
import time

from conftest_helpers import login, make_user
from jupyterhub.tests.utils import async_requests, public_url

from hub_ext.configure import add_runner_service, use_subdomains
from spawner.plan import server_name_for
from support import free_port, resolve_localhost

resolve_localhost()
HOST = ""  # chosen when the hub is configured (a port picked at collection may be taken by then)


def hub_config(cfg, data):
    global HOST
    HOST = f"http://hub.localhost:{free_port()}"
    # the runner's routes under MockHub's own base URL (configure() ran before it was known)
    cfg.JupyterHub.base_url, cfg.Proxy.extra_routes = "/@/space%20word/", {}  # MockHub's bind_url's path
    add_runner_service(cfg)
    use_subdomains(cfg, HOST)


async def test_portal_routes_launch_and_forwarding_work_with_subdomains(app):
    assert app.subdomain_host == HOST and all(not k.startswith("/") for k in app.proxy.extra_routes)
    await make_user(app, "sd-ann", groups=["sd-lab"])
    ann = await login(app, "sd-ann")
    assert public_url(app).startswith(HOST)
    r = await ann.get("hub/home")
    assert r.status_code == 200 and 'data-group="sd-lab"' in r.text
    r = await ann.api("GET", "/portal/me/context")
    assert r.status_code == 200 and r.json()["group"] == "sd-lab"

    # launch: the browser ends up at the server on ann's own host
    server = server_name_for("sd-lab")
    user = app.users["sd-ann"]
    r = await ann.post(f"hub/spawn/sd-ann/{server}", allow_redirects=False)
    assert r.status_code == 302, r.text
    until = time.monotonic() + 60
    location = r.headers["Location"]
    while "/spawn-pending/" in location and time.monotonic() < until:
        await asyncio.sleep(0.5)
        url = HOST + location if location.startswith("/") else location
        r = await async_requests.get(url, cookies=ann.cookies, allow_redirects=False)
        location = r.headers.get("Location", location)
    assert location.startswith(f"http://sd-ann.hub.localhost:{HOST.rsplit(':', 1)[1]}/"), location
    assert location.startswith(user.server_url(server)), (location, user.server_url(server))
    # the portal links to it there too
    dialog = (await ann.get("hub/portal/start?group=sd-lab")).text
    assert f'href="{user.server_url(server)}"' in dialog, dialog[:500]
    await user.stop(server)

    # forwarding: the proxy routes the hub's host's /deployments/ and /apps/ to the runner
    hub_origin = public_url(app)
    until = time.monotonic() + 60
    while True:
        r = await async_requests.get(hub_origin + "deployments/nothing/", allow_redirects=False)
        if r.status_code == 404 or time.monotonic() > until:
            break
        await asyncio.sleep(0.5)
    assert r.status_code == 404 and r.headers.get("Content-Security-Policy") == "sandbox", r.text
    r = await async_requests.get(hub_origin + "apps/sd-lab/none/", allow_redirects=False)
    assert r.status_code == 404 and "Content-Security-Policy" in r.headers
