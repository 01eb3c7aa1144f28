"""MockHub configured exactly like jupyterhub_config.py (hub_ext.configure)."""

from __future__ import annotations

import pytest
from jupyterhub.tests.mocking import MockHub
from traitlets.config import Config

from hub_ext.configure import configure
from hub_ext.isolation import Isolation
from hub_ext.settings import Hubfront
from hub_ext.ssh.settings import SSHGateway
from support import ACCOUNT_PREFIX, free_port, let_workloads_pass, need, proxy_command


@pytest.fixture(scope="module")
async def app(request, tmp_path_factory):
    """A MockHub (real proxy, in-process hub) running Hubfront's authenticator and portal."""
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    data = tmp_path_factory.mktemp("hubfront")
    let_workloads_pass(data)
    cfg = Config()
    configure(cfg)
    cfg.JupyterHub.spawner_class = getattr(request.module, "spawner_class", "jupyterhub.tests.mocking.MockSpawner")
    cfg.ConfigurableHTTPProxy.command = [proxy_command()]
    cfg.Hubfront.data_dir = str(data)
    cfg.Hubfront.db_url = f"sqlite:///{data / 'hubfront.sqlite'}"
    cfg.Isolation.account_prefix = ACCOUNT_PREFIX
    cfg.SSHGateway.port = free_port()  # each test hub's gateway on a port of its own (8022 by default)
    extra = getattr(request.module, "hub_config", None)
    if extra:
        extra(cfg, data)
    Hubfront.clear_instance()
    Isolation.clear_instance()
    SSHGateway.clear_instance()
    MockHub.clear_instance()
    hub = MockHub.instance(config=cfg)
    await hub.initialize([])
    await hub.start()
    # JupyterHub's own autouse cleanup_after empties the hub's service map after each test without
    # stopping the services (its service.stop() is never awaited), so the hub's cleanup would leave the
    # runner running for the rest of the session: keep hold of it and stop it here
    runners = [s for s in hub._service_map.values() if s.managed]
    yield hub
    for service in runners:
        try:
            await service.stop()
        except Exception as e:  # noqa: BLE001
            print(f"Error stopping {service.name}: {e}")
    hub.log.handlers = []
    MockHub.clear_instance()
    Hubfront.clear_instance()
    Isolation.clear_instance()
    SSHGateway.clear_instance()
    try:
        await hub.stop()
    except Exception as e:  # noqa: BLE001
        print(f"Error stopping Hub: {e}")


