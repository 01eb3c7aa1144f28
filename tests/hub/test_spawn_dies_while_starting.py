"""A server that dies while it is still starting gives its quota back and says so."""

import asyncio
import json
import sys

from conftest_helpers import make_user
from jupyterhub.tests.utils import api_request
from spawn_rig import configure_spawner

from hub_ext import activity
from hub_ext.ledger import Ledger
from hub_ext.settings import Hubfront


def hub_config(cfg, data):
    configure_spawner(cfg, data)
    # exits after a second, without ever answering: as a server that crashes at start-up
    cfg.LocalGroupSpawner.cmd = [sys.executable, "-c", "import time; time.sleep(1); raise SystemExit(1)"]
    # longer than the hub's slow_spawn_timeout (10 s): JupyterHub polls the dead server while it is still pending
    cfg.LocalGroupSpawner.http_timeout = 12


async def test_reservation_released_and_failure_recorded(app):
    await make_user(app, "dw-ann", groups=["dw-a"])
    r = await api_request(app, "users", "dw-ann", "servers", "dw-a", method="post",
                          data=json.dumps({"group": "dw-a", "instance_type": "small"}))
    assert r.status_code in (201, 202, 500), r.text  # JupyterHub 6.1 may answer 500 for a fast death
    ledger = Ledger(Hubfront.instance().db_url)
    for _ in range(200):
        spawner = app.users["dw-ann"].spawners.get("dw-a")
        if (spawner is None or not spawner.active) and ledger.get("notebook", "dw-ann/dw-a") is None:
            break
        await asyncio.sleep(0.1)
    assert ledger.get("notebook", "dw-ann/dw-a") is None
    last = activity.recent(Hubfront.instance().db_url, username="dw-ann", limit=1)[0]
    assert last.status == "error" and "dw-a" in last.message, last
