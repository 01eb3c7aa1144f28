"""On a machine without GPUs, GPU instance types are offered disabled with the reason, not refused later."""

import json
import re

from conftest_helpers import login, make_user
from spawn_rig import configure_spawner

NO_GPU = "No GPU on this machine"


def hub_config(cfg, data):
    configure_spawner(cfg, data)
    cfg.LocalGroupSpawner.gpu_devices = []  # what NVML reports without a driver


async def test_gpu_types_are_disabled_with_the_reason_everywhere(app):
    await make_user(app, "ng-ann", groups=["ng-a"], policies={"ng-a": {"default_instance_type": "gpu1"}})
    ann = await login(app, "ng-ann")
    form = (await ann.get("hub/spawn/ng-ann/ng-a")).text
    assert re.search(r'id="it-gpu1"[^>]*disabled', form)
    assert re.search(r'id="it-small"(?![^>]*disabled)[^>]*>', form)
    assert NO_GPU in form.split('id="it-gpu1"')[1].split("</label>")[0]
    home = (await ann.get("hub/home")).text
    assert 'class="btn btn-secondary hf-quick" data-image="tf" disabled' in home
    assert f'data-image="tf">tf: {NO_GPU}</p>' in home.split('id="hf-quicklaunch"')[1]
    r = await ann.api("POST", "/users/ng-ann/servers/ng-a", data=json.dumps({"group": "ng-a", "instance_type": "gpu1"}))
    assert r.status_code == 400 and NO_GPU in r.json()["message"]
    # CPU types launch as usual
    r = await ann.api("POST", "/users/ng-ann/servers/ng-a", data=json.dumps({"group": "ng-a", "instance_type": "small"}))
    assert r.status_code in (201, 202), r.text
    await app.users["ng-ann"].stop("ng-a")
