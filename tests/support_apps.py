"""The apps' forwarder for tests: a stand-in for the hub's identity and OAuth endpoints (:class:`FakeHub`) and the
runner's two apps servers, the apps' port and the hub-origin routes (:class:`Apps`), on real sockets in the test's
event loop. The unit tests of the forwarder and the isolation tests that reach real apps through it share them.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from hub_ext.apps.origin import HostMap
from hub_ext.services.app_access import AppAccess
from hub_ext.services.forward_apps import AppRoute, handlers, hub_handlers
from hub_ext.services.forward_routes import EndpointForwarder, RouteTable

ORIGIN = "https://{app}--{group}.apps.test"


def serve(application) -> tuple[HTTPServer, str]:
    server = HTTPServer(application)
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


class FakeHub:
    """The hub's identity and OAuth endpoints: ``users`` maps a token to the model ``/hub/api/user`` gives."""

    def __init__(self):
        self.users: dict[str, dict] = {}
        self.asked: list[str] = []  # tokens /hub/api/user was asked about, in order
        self.codes: dict[str, str] = {}  # OAuth code -> token
        self.token_requests: list[dict] = []
        self.slow = asyncio.Event()  # /hub/api/user answers once it is set
        self.slow.set()
        hub = self

        class User(web.RequestHandler):
            async def get(self):
                token = self.request.headers.get("Authorization", "").partition(" ")[2]
                hub.asked.append(token)
                await hub.slow.wait()
                if token not in hub.users:
                    raise web.HTTPError(403)
                self.finish(hub.users[token])

        class Token(web.RequestHandler):
            def check_xsrf_cookie(self):
                pass

            def post(self):
                args = {k: v[0].decode() for k, v in self.request.body_arguments.items()}
                hub.token_requests.append(args)
                token = hub.codes.pop(args.get("code", ""), None)
                if token is None or args.get("client_secret") != "runner-secret":
                    raise web.HTTPError(400)
                self.finish({"access_token": token, "token_type": "Bearer"})

        self.server, self.url = serve(web.Application([(r"/hub/api/user", User), (r"/hub/api/oauth2/token", Token)]))

    def user(self, token, name, groups=(), admin=False, kind="user"):
        self.users[token] = {"kind": kind, "name": name, "admin": admin, "groups": list(groups)}


class Apps:
    """The forwarder for apps, with its route table and gate."""

    def __init__(self, hub: FakeHub):
        self.table = RouteTable()
        self.access = AppAccess(base_url="/", hub_prefix="/hub/", hub_api_url=hub.url + "/hub/api",
                                client_id="service-hubfront-runner", client_secret="runner-secret",
                                key=Fernet.generate_key(), check_timeout=2.0, hub_url="https://hub.test",
                                hosts=HostMap(ORIGIN))
        settings = EndpointForwarder(connect_timeout=1.0, request_timeout=5.0)
        self.server, self.base = serve(web.Application(handlers(self.table, self.access, settings)))
        self.hub_server, self.hub_base = serve(web.Application(hub_handlers(self.table, self.access)))

    def route(self, name, upstream=None, access="group", group="g", phase="Running"):
        key = f"{group}/{name}"
        endpoints = (upstream.url,) if upstream is not None else ()
        self.table.set(AppRoute(key, access, endpoints, time.monotonic(), {}, group, phase))
        self.access.hosts.update(key.split("/", 1) for key in self.table.deployments)

    async def at(self, name, path="/", group="g", **kwargs):
        """A request to the app ``name`` of ``group`` at its own host (the Host header names it)."""
        kwargs["headers"] = {"Host": host(name, group), **(kwargs.get("headers") or {})}
        return await self.fetch(path, **kwargs)

    async def fetch(self, path, **kwargs):
        kwargs.setdefault("request_timeout", 10)
        kwargs.setdefault("follow_redirects", False)
        return await AsyncHTTPClient().fetch(self.base + path, raise_error=False, **kwargs)

    async def on_hub(self, path, **kwargs):
        kwargs.setdefault("request_timeout", 10)
        kwargs.setdefault("follow_redirects", False)
        return await AsyncHTTPClient().fetch(self.hub_base + path, raise_error=False, **kwargs)


def host(name, group="g"):
    return urlsplit(HostMap(ORIGIN).origin(group, name)).netloc
