"""The quota-enforcing spawner on a MockHub (SQLite portal DB)."""

import asyncio
import os
import re
import signal

from conftest_helpers import login, make_user
from jupyterhub.tests.utils import api_request, async_requests, public_url
from spawn_rig import configure_spawner, fifty_concurrent_spawns, spawn, wait_ready

from hub_ext.ledger import Ledger
from hub_ext.settings import Hubfront

hub_config = configure_spawner


def ledger():
    return Ledger(Hubfront.instance().db_url)


async def server_env(app, user, server):
    r = await async_requests.get(public_url(app) + f"user/{user}/{server}/env")
    return r.json()


async def test_fifty_concurrent_spawns_admit_exactly_the_quota(app):
    await fifty_concurrent_spawns(app, make_user, "sq")


async def test_server_gets_group_env_devices_and_releases_on_stop(app):
    await make_user(app, "sq-ann", groups=["sq-a"], policies={"sq-a": {"quota": {"gpu": 2}}})
    r = await spawn(app, "sq-ann", "sq-a", instance_type="gpu1", image="tf")
    assert r.status_code in (201, 202), r.text
    await wait_ready(app, "sq-ann", "sq-a")
    env = await server_env(app, "sq-ann", "sq-a")
    assert env["HUBFRONT_GROUP"] == "sq-a"
    assert env["HUBFRONT_INSTANCE_TYPE"] == "gpu1" and env["HUBFRONT_IMAGE"] == "tf"
    assert env["CUDA_VISIBLE_DEVICES"] in [str(d) for d in range(8)]
    held = ledger().get("notebook", "sq-ann/sq-a")
    assert (held.gpu, held.cpu) == (1, 1.0)
    # the server's group is in its state and in the API's user model
    model = (await api_request(app, "users", "sq-ann")).json()
    assert model["servers"]["sq-a"]["user_options"]["group"] == "sq-a"
    await app.users["sq-ann"].stop("sq-a")
    assert ledger().get("notebook", "sq-ann/sq-a") is None


async def test_cpu_server_sees_no_gpu_and_is_pinned_to_its_cores(app):
    await make_user(app, "sq-bea", groups=["sq-b"])
    assert (await spawn(app, "sq-bea", "sq-b", instance_type="small")).status_code in (201, 202)
    await wait_ready(app, "sq-bea", "sq-b")
    assert (await server_env(app, "sq-bea", "sq-b"))["CUDA_VISIBLE_DEVICES"] == ""
    # 0.5 CPU: pinned to one core of this machine (when it has more than one)
    pid = app.users["sq-bea"].spawners["sq-b"].pid
    assert len(os.sched_getaffinity(pid)) == min(1, len(os.sched_getaffinity(0)))
    await app.users["sq-bea"].stop("sq-b")


async def test_two_gpu_servers_never_share_a_device(app):
    await make_user(app, "sq-cat", groups=["sq-c1", "sq-c2"])
    for g in ("sq-c1", "sq-c2"):
        assert (await spawn(app, "sq-cat", g, instance_type="gpu1")).status_code in (201, 202)
    for g in ("sq-c1", "sq-c2"):
        await wait_ready(app, "sq-cat", g)
    devices = {(await server_env(app, "sq-cat", g))["CUDA_VISIBLE_DEVICES"] for g in ("sq-c1", "sq-c2")}
    assert len(devices) == 2 and "" not in devices
    for g in ("sq-c1", "sq-c2"):
        await app.users["sq-cat"].stop(g)


async def test_user_quota_refusal_in_api_json(app):
    await make_user(app, "sq-dan", groups=["sq-d"], policies={"sq-d": {"user_quota": {"cpu": 1, "memory": "1Gi"}}})
    r = await spawn(app, "sq-dan", "sq-d", instance_type="medium")
    assert r.status_code == 403
    assert r.json()["message"] == (
        "CPU: used 0 + requested 2 > limit 1 (user sq-dan in group sq-d); "
        "Memory: used 0 B + requested 4 GiB > limit 1 GiB (user sq-dan in group sq-d)"
    )
    assert ledger().reservations(username="sq-dan") == []


async def test_refusals_name_the_group_by_its_display_name(app):
    await make_user(app, "sq-val", groups=["sq-v"],
                    policies={"sq-v": {"display_name": "Vision Lab", "quota": {"cpu": 1}}})
    r = await spawn(app, "sq-val", "sq-v", instance_type="medium")
    assert r.status_code == 403
    assert r.json()["message"] == "CPU: used 0 + requested 2 > limit 1 (group Vision Lab)"
    form = (await (await login(app, "sq-val")).get("hub/spawn/sq-val/sq-v")).text
    assert "Over quota: CPU: used 0 + requested 2 &gt; limit 1 (group Vision Lab)" in form
    assert "(group sq-v)" not in form


async def test_policy_refusals(app):
    await make_user(app, "sq-eve", groups=["sq-e"], policies={"sq-e": {"instance_types": ["small"], "images": ["base"]}})
    await make_user(app, "sq-other", groups=["sq-x"])
    r = await spawn(app, "sq-eve", "sq-e", instance_type="gpu1")
    assert r.status_code == 403 and "not allowed in group" in r.json()["message"]
    r = await spawn(app, "sq-eve", "sq-e", image="tf")
    assert r.status_code == 403 and "Image 'tf' is not allowed" in r.json()["message"]
    r = await spawn(app, "sq-eve", "sq-x")
    assert r.status_code == 403 and "not a member" in r.json()["message"]


async def test_form_disables_over_quota_types_and_refusal_shows_on_spawn_page(app):
    await make_user(app, "sq-fay", groups=["sq-f"],
                    policies={"sq-f": {"quota": {"cpu": 1}, "images": ["base", "torch"]}})
    s = await login(app, "sq-fay")
    form = await s.get("hub/spawn/sq-fay/sq-f")
    assert form.status_code == 200
    medium = form.text.split('id="it-medium"')[1].split("</div>")[0]
    assert "disabled" in medium.split("/>")[0]
    assert "Over quota: CPU: used 0 + requested 2 &gt; limit 1 (group sq-f)" in medium
    assert "disabled" not in form.text.split('id="it-small"')[1].split("/>")[0]
    # torch has a CPU image only: offered for CPU types (the page script filters by data-gpu)
    assert 'value="torch" data-cpu="1"' in form.text and 'data-gpu="0"' in form.text
    # submitting an over-quota type anyway is refused with the ledger's message on the page
    r = await s.post("hub/spawn/sq-fay/sq-f", {"group": "sq-f", "instance_type": "medium", "image": "base"})
    assert "CPU: used 0 + requested 2 &gt; limit 1 (group sq-f)" in r.text


async def test_form_launch(app):
    await make_user(app, "sq-gil", groups=["sq-g"])
    s = await login(app, "sq-gil")
    await s.post("hub/spawn/sq-gil/sq-g", data={"group": "sq-g", "instance_type": "small", "image": "torch"})
    await wait_ready(app, "sq-gil", "sq-g")
    assert (await server_env(app, "sq-gil", "sq-g"))["HUBFRONT_IMAGE"] == "torch"
    notebooks = await s.get("hub/portal/notebooks")
    row = notebooks.text.split('data-server="sq-g"')[1].split("</tr>")[0]
    assert "sq-g" in row and "small" in row and "torch" in row and "running" in row
    await app.users["sq-gil"].stop("sq-g")


async def test_dead_server_releases_its_reservation(app):
    await make_user(app, "sq-hal", groups=["sq-h"])
    await spawn(app, "sq-hal", "sq-h", instance_type="small")
    await wait_ready(app, "sq-hal", "sq-h")
    spawner = app.users["sq-hal"].spawners["sq-h"]
    os.kill(spawner.pid, signal.SIGKILL)
    for _ in range(100):
        status = await spawner.poll()
        if status is not None:
            break
        await asyncio.sleep(0.1)
    assert status is not None, "the killed server still polls as running"
    assert ledger().get("notebook", "sq-hal/sq-h") is None
    await app.users["sq-hal"].stop("sq-h")


async def test_usage_api_and_dashboard(app):
    await make_user(app, "sq-ivy", groups=["sq-i"],
                    policies={"sq-i": {"quota": {"cpu": 4}, "user_quota": {"cpu": 2}, "admins": ["sq-ivy"]}})
    await make_user(app, "sq-joe", groups=["sq-i"])
    await make_user(app, "sq-out", groups=["sq-o"])
    await spawn(app, "sq-joe", "sq-i", instance_type="small")
    await wait_ready(app, "sq-joe", "sq-i")
    joe = await login(app, "sq-joe")
    doc = (await joe.api("GET", "/portal/groups/sq-i/usage")).json()
    cpu = next(r for r in doc["resources"] if r["resource"] == "cpu")
    assert (cpu["group"]["used"], cpu["group"]["limit"], cpu["user"]["used"], cpu["user"]["limit"]) == (0.5, 4, 0.5, 2)
    gpu = next(r for r in doc["resources"] if r["resource"] == "gpu")
    assert gpu["group"]["unlimited"] and gpu["group"]["limit_text"] == "unlimited"
    assert "users" not in doc  # a member sees totals and their own use only
    admin_doc = (await (await login(app, "sq-ivy")).api("GET", "/portal/groups/sq-i/usage")).json()
    assert [u["username"] for u in admin_doc["users"]] == ["sq-joe"]
    home = (await joe.get("hub/home")).text
    assert 'id="hf-resources"' in home and "0.5 / 2" in home
    out = await login(app, "sq-out")
    assert (await out.api("GET", "/portal/groups/sq-i/usage")).status_code == 404
    await app.users["sq-joe"].stop("sq-i")


async def test_quick_launch_buttons(app):
    await make_user(app, "sq-kay", groups=["sq-k"],
                    policies={"sq-k": {"quota": {"cpu": 0.25}, "default_instance_type": "small"}})
    await make_user(app, "sq-lee", groups=["sq-l"], policies={"sq-l": {"default_instance_type": "small"}})
    home = (await (await login(app, "sq-lee")).get("hub/home")).text
    assert '<button type="submit" class="btn btn-primary hf-quick" data-image="tf">' in home
    assert re.search(r'action="[^"]*/hub/spawn/sq-lee/sq-l"', home)
    home = (await (await login(app, "sq-kay")).get("hub/home")).text
    assert 'class="btn btn-secondary hf-quick" data-image="tf" disabled' in home
    assert "Over quota: CPU: used 0 + requested 0.5 &gt; limit 0.25 (group sq-k)" in home
