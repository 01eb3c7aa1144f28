"""Deployments scale to zero, end to end (issue 25): the real hub and proxy, the runner forwarding
/deployments/<id>/…, replicas as real processes of their owner's OS account.

A deployment with min_replicas 0 and a scale_down_after of a few seconds goes to zero on its own when
nobody calls it: its replicas end and its reservations leave the ledger. Its endpoint still answers: a
request wakes it and is held until a replica is ready (200, the cold start measured and shown on its
page), 20 requests at once at zero all get 200, and a wake the group's quota refuses is a 503 naming it.
The test waits for states the runner reaches in its own time, never for a moment.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests
import yaml

from support import REPO, RealHub, need, proxy_command, stop_leftover_servers, until
from test_deployments_e2e import COMMAND, endpoint, held

pytestmark = [pytest.mark.e2e, pytest.mark.isolation]

PASSWORD = "zero-Passw0rd!"
IDLE = 3  # seconds without requests before the deployments here scale to zero
WAIT = 90  # seconds the runner gets to reach a state (idle time, a pass, replicas ending or starting)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "replicas run as their owners' OS accounts: the hub must run as root (as in CI)")
    work = tmp_path_factory.mktemp("zero-e2e")
    catalog = yaml.safe_load((REPO / "config" / "hubfront.yaml").read_text())
    catalog["catalog"]["instance_types"] += [{"name": "tiny", "cpu": "250m", "memory": "256Mi"}]
    catalog["groups"] = {}
    (work / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    (work / "config.py").write_text(
        f"load_subconfig({str(REPO / 'jupyterhub_config.py')!r})\n"
        "c.HubfrontLicense.free_tier_max_deployments = 20\n")
    hub = RealHub(work / "data", env={"HUBFRONT_CATALOG": str(work / "catalog.yaml")}, config=work / "config.py")
    hub.start()
    try:
        admin = hub.admin()
        for group, policy in {
            "lazy": {"instance_types": ["tiny"], "default_instance_type": "tiny", "deployments_enabled": True},
            # one tiny replica fits in its quota, not two
            "tight": {"instance_types": ["tiny"], "default_instance_type": "tiny", "deployments_enabled": True,
                      "quota": {"cpu": "250m"}},
        }.items():
            assert admin.api("POST", f"/groups/{group}").status_code == 201
            assert admin.api("PUT", f"/portal/groups/{group}/policy", json={"policy": policy}).status_code == 200
        hub.add_user("zoe", PASSWORD, ["lazy", "tight"])
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)  # replicas outlive the runner by design


@pytest.fixture(scope="module")
def zoe(hub):
    return hub.login("zoe", PASSWORD)


def create(s, group: str, **body):
    body = {"name": body["id"], "command": COMMAND, "min_replicas": 0, "scale_down_after": f"{IDLE}s", **body}
    r = s.api("POST", f"/portal/groups/{group}/deployments", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def dep(s, dep_id: str) -> dict:
    r = s.api("GET", f"/portal/deployments/{dep_id}")
    assert r.status_code == 200, r.text
    return r.json()


def reaches(s, dep_id: str, phase: str, check=lambda d: True) -> dict:
    return until(lambda: (d := dep(s, dep_id))["phase"] == phase and check(d) and d, WAIT,
                 f"deployment {dep_id} {phase}")


def invoke(hub, dep_id: str):
    """A model call; one at zero is held while the deployment wakes (so it gets longer than usual)."""
    return requests.post(endpoint(hub, dep_id), json={"x": [1, 2, 3]}, timeout=WAIT)


def activities(s, group: str) -> list[str]:
    return [a["message"] for a in s.api("GET", f"/portal/me/activities?group={group}").json()["activities"]]


def test_idle_it_scales_to_zero_and_a_request_wakes_it(hub, zoe):
    create(zoe, "lazy", id="sleepy", replicas=2, cold_start_timeout="1m")
    reaches(zoe, "sleepy", "Deployed", lambda d: d["available"] == 2)
    assert held(hub, "sleepy") == ["sleepy@1#0", "sleepy@1#1"]

    d = reaches(zoe, "sleepy", "ScaledToZero")  # nobody called it
    assert d["message"] == f"Scaled to zero (no requests for {IDLE} s) — wakes on the next request"
    assert d["scale_to_zero"]["at_zero"] and d["available"] == 0
    assert held(hub, "sleepy") == []  # at zero it reserves nothing
    page = zoe.get(zoe.url("/hub/portal/deployments/sleepy")).content.decode()
    assert f"Scaled to zero (no requests for {IDLE} s) — wakes on the next request" in page
    assert any(f"scaled to zero (no requests for {IDLE} s)" in m for m in activities(zoe, "lazy"))

    r = invoke(hub, "sleepy")  # held until a replica is ready, then answered
    assert r.status_code == 200, r.text
    assert r.json()["sum"] == 6
    # the runner records the cold start once its pass sees the replica ready (the answer may come first)
    zero = until(lambda: (z := dep(zoe, "sleepy")["scale_to_zero"])["last_cold_start_s"] is not None and z, WAIT,
                 "the cold start recorded")
    assert zero["wakes"] == 1 and zero["last_cold_start_s"] > 0 and zero["last_cold_start"]
    said = activities(zoe, "lazy")
    assert any("woken by a request" in m for m in said) and any("(cold start)" in m for m in said), said
    page = zoe.get(zoe.url("/hub/portal/deployments/sleepy")).content.decode()
    assert zero["last_cold_start"] in page  # the cold start, shown

    # kept up while it is called: its replicas are reserved again
    assert zoe.api("PATCH", "/portal/deployments/sleepy", json={"scale_down_after": "1h"}).status_code == 200
    reaches(zoe, "sleepy", "Deployed", lambda d: d["available"] == 2)
    assert held(hub, "sleepy") == ["sleepy@1#0", "sleepy@1#1"]
    pids = {invoke(hub, "sleepy").json()["pid"] for _ in range(4)}

    # 20 requests at once at zero: one wake, every one of them answered
    assert zoe.api("PATCH", "/portal/deployments/sleepy", json={"scale_down_after": IDLE}).status_code == 200
    reaches(zoe, "sleepy", "ScaledToZero")
    until(lambda: not any(psutil.pid_exists(p) for p in pids), WAIT, "the replicas ended at zero")
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: invoke(hub, "sleepy"), range(20)))
    assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers if a.status_code != 200]
    assert dep(zoe, "sleepy")["scale_to_zero"]["wakes"] == 2
    assert zoe.api("DELETE", "/portal/deployments/sleepy").status_code == 204


def test_a_wake_the_quota_refuses_is_a_503_naming_it(hub, zoe):
    create(zoe, "tight", id="napper")
    reaches(zoe, "napper", "ScaledToZero")
    create(zoe, "tight", id="hog", min_replicas=1)  # takes the group's quota meanwhile
    reaches(zoe, "hog", "Deployed")
    r = requests.get(endpoint(hub, "napper", "health"), timeout=WAIT)
    assert r.status_code == 503 and r.headers["Retry-After"], r.text
    message = r.json()["message"]
    assert "napper is scaled to zero and cannot wake now" in message and "CPU" in message and "tight" in message
    assert dep(zoe, "napper")["phase"] == "ScaledToZero" and held(hub, "napper") == []

    assert zoe.api("POST", "/portal/deployments/hog/stop").status_code == 202
    reaches(zoe, "hog", "Stopped")
    r = until(lambda: (a := requests.get(endpoint(hub, "napper", "health"), timeout=WAIT)).status_code == 200 and a,
              WAIT, "napper woken once the quota is free")
    assert r.json()["ok"]
    for dep_id in ("napper", "hog"):
        assert zoe.api("DELETE", f"/portal/deployments/{dep_id}").status_code == 204
