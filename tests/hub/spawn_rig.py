"""MockHub set-up for spawner tests: the real LocalGroupSpawner running a tiny server.

The single-user command is JupyterHub's own ``mocksu`` test server (it answers
``/env`` with its environment), so the admission path, CPU affinity, GPU
device hand-out and environment variables are the real ones, minus JupyterLab.
"""

from __future__ import annotations

import sys

CATALOG = {
    "instance_types": [
        {"name": "small", "cpu": "500m", "memory": "512Mi"},
        {"name": "medium", "cpu": 2, "memory": "4Gi"},
        {"name": "gpu1", "cpu": 1, "memory": "1Gi", "gpu": 1},
    ],
    "images": [
        {"name": "base", "image": "base:cpu", "gpu_image": "base:gpu"},
        {"name": "tf", "image": "tf:cpu", "gpu_image": "tf:gpu", "quick_launch": "tensorflow"},
        {"name": "torch", "image": "torch:cpu", "quick_launch": "pytorch"},
    ],
}


def configure_spawner(cfg, data, db_url: str | None = None) -> None:
    cfg.JupyterHub.spawner_class = "hubfront-local"
    cfg.LocalGroupSpawner.cmd = [sys.executable, "-m", "jupyterhub.tests.mocksu"]
    cfg.LocalGroupSpawner.gpu_devices = list(range(8))
    cfg.Spawner.start_timeout = 60
    cfg.Spawner.http_timeout = 60
    cfg.Hubfront.catalog_config = CATALOG
    if db_url:
        cfg.Hubfront.db_url = db_url


async def spawn(app, username: str, group: str, **options):
    """POST /hub/api/users/{u}/servers/{group} as the admin API would."""
    from jupyterhub.tests.utils import api_request

    from spawner.plan import server_name_for

    body = {"group": group, **options}
    import json

    return await api_request(app, "users", username, "servers", server_name_for(group),
                             method="post", data=json.dumps(body))


async def wait_ready(app, user: str, server: str, timeout: float = 30) -> None:
    """Until ``user``'s ``server`` is ready (AssertionError after ``timeout`` seconds)."""
    import asyncio

    for _ in range(int(timeout * 10)):
        if app.users[user].spawners[server].ready:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{user}/{server} not ready")


async def fifty_concurrent_spawns(app, make_user, prefix: str) -> None:
    """50 users launch 1-GPU servers at once into a group with a 4-GPU quota."""
    import asyncio

    from hub_ext.ledger import Ledger
    from hub_ext.settings import Hubfront

    group = f"{prefix}-gpu"
    policy = {"quota": {"gpu": 4}, "instance_types": ["gpu1"]}
    names = [f"{prefix}-u{i}" for i in range(50)]
    for name in names:
        await make_user(app, name, groups=[group], policies={group: policy})
    results = await asyncio.gather(*(spawn(app, n, group, instance_type="gpu1", image="base") for n in names))
    admitted = [r for r in results if r.status_code in (201, 202)]
    refused = [r for r in results if r.status_code == 403]
    assert (len(admitted), len(refused)) == (4, 46), [r.status_code for r in results]
    assert {r.json()["message"] for r in refused} == {f"GPU: used 4 + requested 1 > limit 4 (group {group})"}
    for _ in range(200):  # wait for the admitted servers to be up
        running = [n for n in names if getattr(app.users[n].spawners.get(group), "ready", False)]
        if len(running) == 4:
            break
        await asyncio.sleep(0.1)
    ledger = Ledger(Hubfront.instance().db_url)
    held = ledger.reservations(group=group)
    assert len(running) == 4
    # the 46 refused launches left no server behind
    assert [n for n in names if n not in running and group in app.users[n].orm_user.orm_spawners] == []
    assert sorted(r.username for r in held) == sorted(running)
    assert sum(r.gpu for r in held) == 4
    assert sorted(d for r in held for d in r.device_ids) == [0, 1, 2, 3]
    for name in running:
        await app.users[name].stop(group)
    assert ledger.reservations(group=group) == []
