"""A real jupyterlab server launched in a group on the real hub, inside the group's quota.

One hub for the module: the admin sets up group ``a`` through the policy API,
alice launches through the REST API, and what the server sees is checked from
inside it, through a kernel.
"""

import json
from pathlib import Path

import pytest

from support import (
    RealHub, need, proxy_command, run_in_server, stop_leftover_servers, wait_for_server, wait_for_stopped,
)

from hub_ext.ledger import Ledger

pytestmark = pytest.mark.e2e

ALICE_PW = "alice-Passw0rd!"
ENV_CODE = (
    "import json, os\n"
    "print(json.dumps({k: os.environ.get(k) for k in "
    "('HUBFRONT_GROUP', 'HUBFRONT_INSTANCE_TYPE', 'HUBFRONT_IMAGE', 'CUDA_VISIBLE_DEVICES', 'HOME')}))"
)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    hub = RealHub(Path(tmp_path_factory.mktemp("spawn-e2e")))
    hub.start()
    try:
        admin = hub.admin()
        assert admin.api("POST", "/groups/a").status_code == 201
        r = admin.api("PUT", "/portal/groups/a/policy", json={"policy": {
            "user_quota": {"cpu": 1}, "instance_types": ["cpu-small", "cpu-medium"]}})
        assert r.status_code == 200, r.text
        hub.add_user("alice", ALICE_PW, ["a"])
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)  # servers outlive the hub; none outlives the test


def cpu_usage(session, group):
    r = session.api("GET", f"/portal/groups/{group}/usage")
    assert r.status_code == 200, r.text
    cpu = next(row for row in r.json()["resources"] if row["resource"] == "cpu")
    return cpu["user"]["used"], cpu["group"]["used"]


def launch(session, instance_type, image="base"):
    return session.api("POST", "/users/alice/servers/a",
                       json={"group": "a", "instance_type": instance_type, "image": image})


def test_launch_over_user_quota_is_refused_with_the_ledger_message(hub):
    alice = hub.login("alice", ALICE_PW)
    r = launch(alice, "cpu-medium")
    assert r.status_code == 403, r.text
    # cpu-medium is 2 CPU / 4Gi; only cpu has a user limit in group a
    assert r.json()["message"] == "CPU: used 0 + requested 2 > limit 1 (user alice in group a)"
    assert Ledger(hub.portal_db_url).reservations() == []
    assert cpu_usage(alice, "a") == (0, 0)
    assert "a" not in alice.api("GET", "/users/alice").json()["servers"]


def test_real_server_runs_in_its_group_and_stop_releases_the_quota(hub):
    alice = hub.login("alice", ALICE_PW)
    r = launch(alice, "cpu-small")
    assert r.status_code in (201, 202), r.text
    model = wait_for_server(alice, "alice", "a", hub=hub)
    assert model["user_options"] == {"group": "a", "instance_type": "cpu-small", "image": "base"}

    seen = json.loads(run_in_server(alice, "alice", "a", ENV_CODE))
    assert seen["HUBFRONT_GROUP"] == "a"
    assert seen["HUBFRONT_INSTANCE_TYPE"] == "cpu-small"
    assert seen["HUBFRONT_IMAGE"] == "base"
    assert seen["CUDA_VISIBLE_DEVICES"] == ""  # no GPU granted: CUDA sees none
    assert seen["HOME"] == str(hub.data_dir / "homes" / "alice")

    lab = alice.get(alice.url("/user/alice/a/lab"))  # the UI opens (hub OAuth, then JupyterLab)
    assert lab.status_code == 200 and "JupyterLab" in lab.text, lab.text[:500]

    assert cpu_usage(alice, "a") == (0.5, 0.5)
    [held] = Ledger(hub.portal_db_url).reservations()
    assert (held.workload_id, held.group, held.cpu, held.memory) == ("alice/a", "a", 0.5, 2**30)

    r = alice.api("DELETE", "/users/alice/servers/a")
    assert r.status_code in (202, 204), r.text
    wait_for_stopped(alice, "alice", "a")
    assert cpu_usage(alice, "a") == (0, 0)
    assert Ledger(hub.portal_db_url).reservations() == []


def test_launch_without_xsrf_is_refused(hub):
    alice = hub.login("alice", ALICE_PW)
    r = alice.api("POST", "/users/alice/servers/a", headers={"X-XSRFToken": ""},
                  json={"group": "a", "instance_type": "cpu-small", "image": "base"})
    assert r.status_code == 403
    assert Ledger(hub.portal_db_url).reservations() == []
