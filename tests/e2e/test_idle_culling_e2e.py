"""The idle culler on a real hub with its runner (issue 25): a notebook whose kernel runs a CPU-bound loop
with no client connected is not stopped at its idle timeout (its cgroup's CPU says it is busy), and is once
the loop has ended and the timeout has passed; a busy notebook is stopped at its maximum age all the same;
each stop's activity says why and its reservation is gone from the ledger."""

import json
import os
import time
import uuid

import pytest
import requests
import websocket

from support import (catalog_hub, make_groups, need, proxy_command, stop_leftover_servers, until, user_token,
                     wait_for_server, wait_for_stopped)

pytestmark = pytest.mark.e2e
PASSWORD = "Idle-pass1"
LOOP = 75  # seconds the kernel spins (longer than the idle timeout)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "cgroups (the CPU the culler reads) need root (as in CI)")
    hub = catalog_hub(tmp_path_factory.mktemp("idle-e2e"), [{"name": "tiny", "cpu": "500m", "memory": "512Mi"}],
                      "c.Lifecycle.interval = 2\n")
    hub.start()
    try:
        base = {"instance_types": ["tiny"], "default_instance_type": "tiny"}
        make_groups(hub, {"spinners": {**base, "idle_timeout": 45, "warn_before": 15},
                          "elders": {**base, "idle_timeout": "never", "max_age": "40s"}})
        hub.add_user("ida", PASSWORD, ["spinners", "elders"])
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)


def start(session, group: str, hub) -> dict:
    r = session.api("POST", f"/users/ida/servers/{group}", json={"group": group, "instance_type": "tiny",
                                                                "image": "base"})
    assert r.status_code in (201, 202), r.text
    return wait_for_server(session, "ida", group, hub=hub)


def spin_and_leave(session, token: str, server: str, seconds: int) -> None:
    """Have a new kernel of ``server`` run a CPU-bound loop for ``seconds``, and disconnect at once (no
    client stays connected; the loop prints nothing, so nothing reports activity)."""
    headers = {"Authorization": f"token {token}"}
    api = session.base_url + f"/user/ida/{server}/api/kernels"
    r = requests.post(api, json={}, headers=headers, timeout=30)
    assert r.status_code == 201, r.text
    ws = websocket.create_connection(api.replace("http://", "ws://", 1) + f"/{r.json()['id']}/channels",
                                     header=[f"Authorization: token {token}"], timeout=30)
    try:
        ws.send(json.dumps({
            "header": {"msg_id": uuid.uuid4().hex, "username": "ida", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": f"import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass",
                        "silent": True, "store_history": False, "user_expressions": {}, "allow_stdin": False},
        }))
        until(lambda: json.loads(ws.recv()).get("content", {}).get("execution_state") == "busy", 30,
              "the kernel to start the loop")
    finally:
        ws.close()


def lifecycle(session, server: str) -> dict | None:
    body = session.api("GET", "/portal/me/notebooks").json()
    return next((n for n in body["notebooks"] if n["server"] == server), None)


def activities(session, group: str) -> list[dict]:
    return session.api("GET", f"/portal/me/activities?group={group}").json()["activities"]


def held(hub) -> list[str]:
    from hub_ext.ledger import Ledger

    return sorted(r.workload_id for r in Ledger(hub.portal_db_url).reservations(kind="notebook"))


def test_a_busy_kernel_keeps_its_notebook_until_the_loop_ends_and_max_age_stops_one_anyway(hub):
    ida = hub.login("ida", PASSWORD)
    token = user_token(ida, "ida")
    start(ida, "spinners", hub)
    start(ida, "elders", hub)
    spun = time.monotonic()
    spin_and_leave(ida, token, "spinners", LOOP)
    spin_and_leave(ida, token, "elders", 600)  # busy the whole time: only its age stops it
    assert held(hub) == ["ida/elders", "ida/spinners"]

    # the aged one goes at 40 s, busy or not, and says so
    wait_for_stopped(ida, "ida", "elders", timeout=120)
    aged = next((a for a in activities(ida, "elders") if a["action"] == "culled"), None)
    assert aged is not None, activities(ida, "elders")
    assert aged["message"] == "Stopped at its maximum age of 40 s"
    assert held(hub) == ["ida/spinners"]

    # the spinning one outlives its idle timeout: the culler sees its CPU
    until(lambda: time.monotonic() - spun > 45 + 15, 120, "the idle timeout to pass")
    seen = lifecycle(ida, "spinners")
    assert seen is not None, "the spinning notebook was stopped while its kernel was busy"
    assert seen["cpu"] != "not measured" and float(seen["cpu"].split()[0]) > 0.1, seen
    assert seen["warning"] == "", seen

    # once the loop is over it is stopped after the idle timeout, saying why
    wait_for_stopped(ida, "ida", "spinners", timeout=LOOP + 45 + 90)
    assert time.monotonic() - spun >= LOOP + 45 - 5, "stopped before the loop ended and the timeout passed"
    culled = next(a for a in activities(ida, "spinners") if a["action"] == "culled")
    assert culled["message"] == "Stopped after 45 s idle (no activity, CPU < 2 %)"
    assert held(hub) == []
