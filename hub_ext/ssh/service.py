"""The SSH gateway's process (``python -m hub_ext.ssh``), a managed service of the hub like the runner.

The hub starts it (``hub_ext.configure.add_ssh_service``) and hands it, at start, the configuration sections
it reads (:func:`hand_over_config`: the data dir and database, isolation, the login throttle, the gateway's
own settings). It listens on ``c.SSHGateway.port`` with the host keys kept in the data dir, and ends when
the hub stops it or is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal

import asyncssh
from traitlets.config import Config

from .. import mode
from ..auth.throttle import LoginThrottle
from ..isolation import Isolation
from ..settings import Hubfront
from ..times import iso, utcnow
from .hostkeys import ensure_host_keys
from .hubclient import HubClient
from .landings import landings_for
from .server import GatewayServer
from .settings import SERVICE_NAME, SSHGateway

SECTIONS = ("Hubfront", "Isolation", "SSHGateway", "LoginThrottle", "KubeSSH")
CONFIG_VAR = "HUBFRONT_SSH_CONFIG"
BIND_RETRY_SECONDS = 10.0
log = logging.getLogger("hubfront.ssh")


def _json_section(section) -> dict:
    out = {}
    for key, value in section.items():
        try:
            json.dumps(value)
        except TypeError:
            continue
        out[key] = value
    return out


def hand_over_config(app, hubfront) -> None:
    """At the hub's start: give the gateway service the configuration it reads, with the port the hub saw
    (a managed service does not inherit the hub's environment)."""
    service = app._service_map.get(SERVICE_NAME)
    if service is None or not service.managed:
        return
    config = {s: _json_section(app.config[s]) for s in SECTIONS if s in app.config}
    config.setdefault("Hubfront", {}).update(data_dir=hubfront.data_dir, db_url=hubfront.db_url)
    config.setdefault("SSHGateway", {})["port"] = SSHGateway.instance(config=app.config).port
    config.setdefault("KubeSSH", {})["enabled"] = mode.kubernetes(app.config)  # sessions in notebook pods
    isolation = Isolation.instance(config=app.config)
    config.setdefault("Isolation", {}).update(hub_api_url=isolation.hub_api_url, public_url=isolation.public_url,
                                              host_services=isolation.host_services)
    ensure_host_keys(hubfront.data_dir)  # made once, before the SSH keys page shows their fingerprints
    service.environment = {**service.environment, CONFIG_VAR: json.dumps(config)}


class Gateway:
    """What every connection shares."""

    def __init__(self, config: Config, api_url: str, token: str):
        self.hubfront = Hubfront.instance(config=config)
        self.settings = SSHGateway.instance(config=config)
        self.isolation = Isolation.instance(config=config)
        self.throttle = LoginThrottle(config=config, db_url=self.hubfront.db_url)
        self.hub = HubClient(api_url, token)
        self.landings = landings_for(self, config)  # where sessions run: local, or in pods
        self.open_sessions: dict[tuple[str, str], int] = {}  # (user, server) -> sessions open there

    def session_opened(self, username: str, server: str) -> None:
        key = (username, server)
        self.open_sessions[key] = self.open_sessions.get(key, 0) + 1
        if self.open_sessions[key] == 1:
            asyncio.ensure_future(self._tell_activity([key]))

    def session_closed(self, username: str, server: str) -> None:
        key = (username, server)
        self.open_sessions[key] = self.open_sessions.get(key, 1) - 1
        if self.open_sessions[key] <= 0:
            del self.open_sessions[key]

    async def _tell_activity(self, keys) -> None:
        when = iso(utcnow())
        for username, server in keys:
            try:
                await self.hub.activity(username, server, when)
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                log.warning("Could not tell the hub that %s/%s is in use: %s", username, server, exc)

    async def report_activity(self, stop: asyncio.Event) -> None:
        """Every ``activity_seconds``: the notebooks with an SSH session open are in use."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.settings.activity_seconds)
            except asyncio.TimeoutError:
                await self._tell_activity(list(self.open_sessions))

    @property
    def db_url(self) -> str:
        return self.hubfront.db_url

    async def listen(self):
        keys = [k.path for k in ensure_host_keys(self.hubfront.data_dir)]
        s = self.settings
        return await asyncssh.create_server(
            lambda: GatewayServer(self), s.bind_ip, s.port, server_host_keys=keys, encoding=None,
            line_editor=False, agent_forwarding=s.allow_agent_forwarding, x11_forwarding=False, allow_scp=False,
            login_timeout=s.login_grace_seconds, keepalive_interval=s.keepalive_seconds or None,
            keepalive_count_max=3, reuse_address=True, server_version="Hubfront")


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s ssh] %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    config = Config(json.loads(os.environ.get(CONFIG_VAR) or "{}"))
    gateway = Gateway(config, os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watch = asyncio.create_task(orphaned(stop))
    activity = asyncio.create_task(gateway.report_activity(stop))
    server = None
    while server is None and not stop.is_set():
        try:
            server = await gateway.listen()
        except OSError as exc:  # the port is taken: say so, and try again (never a restart loop)
            log.error("SSH gateway cannot listen on %s:%s: %s; trying again in %.0f s", gateway.settings.bind_ip,
                      gateway.settings.port, exc, BIND_RETRY_SECONDS)
            try:
                await asyncio.wait_for(stop.wait(), BIND_RETRY_SECONDS)
            except asyncio.TimeoutError:
                pass
    if server is not None:
        log.info("SSH gateway listening on %s:%s", gateway.settings.bind_ip, gateway.settings.port)
        await stop.wait()
        server.close()
    watch.cancel()
    activity.cancel()
    log.info("SSH gateway stopping")


async def orphaned(stop: asyncio.Event, interval: float = 2.0) -> None:
    """Stop when the hub that started us is gone (its next start starts a new gateway on the same port)."""
    parent = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(interval)
        if os.getppid() != parent:
            log.warning("The hub that started the SSH gateway is gone; stopping")
            stop.set()
