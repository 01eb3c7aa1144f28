"""System Resources as a member meets it (MockHub, the real LocalGroupSpawner in its cgroup): what they hold
in their group against their quota and the group's, and the live CPU and memory of their notebook."""

import json
import re

from conftest_helpers import login, make_user
from spawn_rig import configure_spawner, spawn, wait_ready

hub_config = configure_spawner


async def test_a_member_sees_their_allocation_and_each_sessions_live_use(app):
    policy = {"display_name": "Member Lab", "quota": {"cpu": 4}, "user_quota": {"cpu": 2, "memory": "2Gi"}}
    await make_user(app, "sm-ivy", groups=["sm-g"], policies={"sm-g": policy})
    r = await spawn(app, "sm-ivy", "sm-g", instance_type="small", image="base")
    assert r.status_code in (201, 202), r.text
    await wait_ready(app, "sm-ivy", "sm-g")
    ivy = await login(app, "sm-ivy")
    try:
        data = (await ivy.api("GET", "/portal/system/resources")).json()
        assert data["sessions"] == 1 and data["live_unavailable"] == ""
        [row] = data["session_rows"]
        assert (row["title"], row["group_title"], row["allocated"]) == (
            "Notebook in Member Lab", "Member Lab", "0.5 CPU · 512 MiB")
        # live, from the notebook's cgroup: the server holds memory within its limit, CPU is a figure
        assert 0 < row["memory_used"] <= 512 * 2**20, row
        assert re.fullmatch(r"\d+(\.\d+)? (KiB|MiB) of 512 MiB", row["memory_text"]), row
        assert row["cpu_used"] is not None and re.fullmatch(r"\d\.\d\d of 0.5 cores", row["cpu_text"]), row
        # what she holds against her quota and the group's
        assert data["text"]["sm-g:user:cpu"] == "0.5 of 2" and data["text"]["sm-g:group:cpu"] == "0.5 of 4"
        assert data["text"]["sm-g:user:memory"] == "512 MiB of 2 GiB" and data["percent"]["sm-g:user:cpu"] == 25
        page = (await ivy.get("hub/portal/system")).text
        assert "Notebook in Member Lab" in page and f'data-field="{row["key"]}:memory"' in page
        assert '<div class="card-header">Member Lab</div>' in page
        # the next reading (the page's refresh) measures CPU since the previous one
        again = (await ivy.api("GET", "/portal/system/resources")).json()["session_rows"][0]
        assert again["cpu_used"] is not None and again["memory_used"] > 0
    finally:
        assert (await ivy.api("DELETE", "/users/sm-ivy/servers/sm-g")).status_code in (202, 204)
    data = (await ivy.api("GET", "/portal/system/resources")).json()
    assert data["session_rows"] == [] and json.dumps(data["text"]["sm-g:user:cpu"]) == '"0 of 2"'
