"""MockHub configured exactly like jupyterhub_config.py (hub_ext.configure)."""

from __future__ import annotations

import logging
import warnings

import pytest
from jupyterhub.tests.mocking import MockHub
from traitlets.config import Config

from hub_ext.configure import configure
from hub_ext.isolation import Isolation
from hub_ext.settings import Hubfront
from hub_ext.ssh.settings import SSHGateway
from support import ACCOUNT_PREFIX, free_port, let_workloads_pass, need, proxy_command

SINGLETONS = (MockHub, Hubfront, Isolation, SSHGateway)


def _config(request, data) -> Config:
    cfg = Config()
    configure(cfg)  # the runner's and the apps' ports are picked here: a new configuration, new ports
    cfg.JupyterHub.spawner_class = getattr(request.module, "spawner_class", "jupyterhub.tests.mocking.MockSpawner")
    cfg.ConfigurableHTTPProxy.command = [proxy_command()]
    cfg.Hubfront.data_dir = str(data)
    cfg.Hubfront.db_url = f"sqlite:///{data / 'hubfront.sqlite'}"
    cfg.Isolation.account_prefix = ACCOUNT_PREFIX
    cfg.SSHGateway.port = free_port()  # each test hub's gateway on a port of its own (8022 by default)
    extra = getattr(request.module, "hub_config", None)
    if extra:
        extra(cfg, data)
    return cfg


class _Said(logging.Handler):
    """What the hub logged as an error while it started (why it gave up)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


async def _stop(hub) -> None:
    # JupyterHub's own autouse cleanup_after empties the hub's service map after each test without
    # stopping the services (its service.stop() is never awaited), so the hub's cleanup would leave the
    # runner running for the rest of the session: the services kept at start are stopped here
    for service in getattr(hub, "_hubfront_services", ()):
        try:
            await service.stop()
        except Exception as e:  # noqa: BLE001
            print(f"Error stopping {service.name}: {e}")
    hub.log.handlers = []
    for singleton in SINGLETONS:
        singleton.clear_instance()
    try:
        await hub.stop()
    except Exception as e:  # noqa: BLE001
        print(f"Error stopping Hub: {e}")


async def _nothing(*args):
    pass


async def _start(cfg) -> tuple[MockHub | None, list[str]]:
    """The hub started, or None and why not. JupyterHub exits (SystemExit) when a managed service does
    not come up: caught here, so that the hub's proxy and services are stopped and pytest's fixture
    stays usable for the next module (a SystemExit escaping a fixture breaks every later use of it)."""
    for singleton in SINGLETONS:
        singleton.clear_instance()
    hub = MockHub.instance(config=cfg)
    said = _Said()
    try:
        await hub.initialize([])
        hub.log.addHandler(said)  # (initialize sets up the hub's logging)
        hub._hubfront_services = [s for s in hub._service_map.values() if s.managed]
        await hub.start()
    except (Exception, SystemExit) as e:
        hub._hubfront_services = [s for s in hub._service_map.values() if s.managed]
        hub.shutdown_cancel_tasks = _nothing  # JupyterHub's stop would cancel every task of the loop: ours too
        await _stop(hub)
        return None, said.lines or [f"{type(e).__name__}: {e}"]
    hub.log.removeHandler(said)
    return hub, []


@pytest.fixture(scope="module")
async def app(request, tmp_path_factory):
    """A MockHub (real proxy, in-process hub) running Hubfront's authenticator and portal."""
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    data = tmp_path_factory.mktemp("hubfront")
    let_workloads_pass(data)
    hub, why = await _start(_config(request, data))
    if hub is None:
        # once more with fresh ports: a port picked free can be taken (by any process's outgoing
        # connection) before the runner binds it; the first failure is shown among the warnings
        warnings.warn(f"the test hub did not start, started again: {'; '.join(why)}", stacklevel=1)
        hub, again = await _start(_config(request, data))
        if hub is None:
            pytest.fail(f"the test hub did not start: {'; '.join(why + again)}")
    yield hub
    await _stop(hub)
