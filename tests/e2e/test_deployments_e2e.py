"""Deployments end to end: the real hub and proxy, the runner forwarding /deployments/<id>/…,
replicas as real processes of their owner's OS account."""

from __future__ import annotations

import os
import shlex
import signal
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
import yaml

from hub_ext.ledger import Ledger
from support import ACCOUNT_PREFIX, REPO, RealHub, need, proxy_command, stop_leftover_servers, until
from support_mlflow import mlflow_server  # noqa: F401 - a fixture

pytestmark = [pytest.mark.e2e, pytest.mark.isolation]

PASSWORD = "deploy-Passw0rd!"

# A tiny model server: answers /health, and /invocations with its version, pid and OS account.
SERVER = r"""
import json, os, pwd
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self._send(200, {"ok": True, "path": self.path})
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(n) or b"{}")
        self._send(200, {"version": os.environ.get("VERSION", "1"), "pid": os.getpid(),
                         "user": pwd.getpwuid(os.getuid()).pw_name, "sum": sum(payload.get("x", [])),
                         "authorization": self.headers.get("Authorization"), "cookie": self.headers.get("Cookie")})
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""
COMMAND = f"exec python3 -c {shlex.quote(SERVER)}"


@pytest.fixture(scope="module")
def hub(tmp_path_factory, mlflow_server):  # noqa: F811 - the platform's MLflow server, on the host's loopback
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "replicas run as their owners' OS accounts: the hub must run as root (as in CI)")
    work = tmp_path_factory.mktemp("deploy-e2e")
    catalog = yaml.safe_load((REPO / "config" / "hubfront.yaml").read_text())
    catalog["catalog"]["instance_types"] += [{"name": "tiny", "cpu": "250m", "memory": "256Mi"},
                                             {"name": "model", "cpu": "1", "memory": "2Gi"}]
    catalog["groups"] = {}
    (work / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    (work / "config.py").write_text(
        f"load_subconfig({str(REPO / 'jupyterhub_config.py')!r})\n"
        "c.LocalDeployments.check_interval = 0.3\n"
        "c.HubfrontLicense.free_tier_max_deployments = 20\n"
        # replicas reach a service of the host's loopback only when the operator lists it
        f"c.Isolation.host_services = [{mlflow_server.url!r}]\n")
    hub = RealHub(work / "data", env={"HUBFRONT_CATALOG": str(work / "catalog.yaml")}, config=work / "config.py")
    hub.start()
    try:
        admin = hub.admin()
        for group, policy in {
            "serve": {"instance_types": ["tiny", "model"], "default_instance_type": "tiny",
                      "deployments_enabled": True},
            "capped": {"instance_types": ["tiny"], "deployments_enabled": True, "deployments_max": 1},
            "other": {"instance_types": ["tiny"]},
        }.items():
            assert admin.api("POST", f"/groups/{group}").status_code == 201
            assert admin.api("PUT", f"/portal/groups/{group}/policy", json={"policy": policy}).status_code == 200
        hub.add_user("alice", PASSWORD, ["serve", "capped"])
        hub.add_user("bob", PASSWORD, ["serve"])
        hub.add_user("olga", PASSWORD, ["other"])
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)  # replicas outlive the runner by design


@pytest.fixture(scope="module")
def alice(hub):
    return hub.login("alice", PASSWORD)


def create(s, group="serve", **body):
    body = {"name": body.get("id", "svc"), "command": COMMAND, **body}
    r = s.api("POST", f"/portal/groups/{group}/deployments", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def wait(s, dep_id, phase="Deployed", timeout=60.0, check=None):
    until = time.monotonic() + timeout
    while True:
        dep = s.api("GET", f"/portal/deployments/{dep_id}").json()
        if dep["phase"] == phase and (check is None or check(dep)):
            return dep
        assert time.monotonic() < until, f"deployment {dep_id} still {dep['phase']}: {dep['message']}"
        time.sleep(0.2)


def held(hub, dep_id) -> list[str]:
    """The ledger's reservations of ``dep_id``'s replicas."""
    return sorted(r.workload_id for r in Ledger(hub.portal_db_url).reservations(kind="deployment")
                  if r.workload_id.startswith(f"{dep_id}@"))


def endpoint(hub, dep_id, path="invocations"):
    return f"{hub.base_url}/deployments/{dep_id}/{path}"


def invoke(hub, dep_id, **kw):
    return requests.post(endpoint(hub, dep_id), json={"x": [1, 2, 3]}, timeout=10, **kw)


def test_a_public_deployment_answers_through_the_hubs_port_as_its_owner(hub, alice):
    dep = create(alice, id="pub", replicas=2, env={"VERSION": "1"})
    assert dep["phase"] == "Deploying" and dep["endpoint"].endswith("/deployments/pub/")
    dep = wait(alice, "pub", check=lambda d: d["available"] == 2)
    answers = [invoke(hub, "pub") for _ in range(6)]
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    bodies = [r.json() for r in answers]
    assert {b["user"] for b in bodies} == {f"{ACCOUNT_PREFIX}alice"}  # never the hub's account
    assert len({b["pid"] for b in bodies}) == 2  # round robin over both replicas
    assert bodies[0]["sum"] == 6
    # the hub's cookies are not forwarded to the model server
    r = alice.post(endpoint(hub, "pub"), json={"x": [1]})
    assert r.status_code == 200 and "jupyterhub" not in (r.json()["cookie"] or "")
    held = Ledger(hub.portal_db_url).reservations(kind="deployment")
    assert sorted(r.workload_id for r in held if r.workload_id.startswith("pub@")) == ["pub@1#0", "pub@1#1"]
    messages = [a["message"] for a in alice.api("GET", "/portal/me/activities?group=serve").json()["activities"]]
    assert any("pub" in m and "deployed" in m for m in messages), messages


def test_a_private_deployment_needs_a_live_client_token(hub, alice):
    create(alice, id="priv")
    wait(alice, "priv")
    assert invoke(hub, "priv").status_code == 200
    assert alice.api("PATCH", "/portal/deployments/priv", json={"access": "private"}).status_code == 200
    deadline = time.monotonic() + 10
    while invoke(hub, "priv").status_code != 401:
        assert time.monotonic() < deadline, "still public"
        time.sleep(0.2)
    r = invoke(hub, "priv")
    assert "Basic" in r.headers.get("WWW-Authenticate", "")
    r = alice.api("POST", "/portal/deployments/priv/clients", json={"name": "app"})
    assert r.status_code == 201
    token = r.json()["token"]
    assert "token" not in alice.api("GET", "/portal/deployments/priv/clients").json()["clients"][0]

    # the token works at once, as a script that creates a client and calls the endpoint right away uses it
    r = invoke(hub, "priv", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["authorization"] is None, r.text  # the token stays at the door
    assert invoke(hub, "priv", auth=("app", token)).status_code == 200
    for n in range(5):  # every one at once, not only the first
        made = alice.api("POST", "/portal/deployments/priv/clients", json={"name": f"script-{n}"}).json()
        assert invoke(hub, "priv", headers={"Authorization": f"Bearer {made['token']}"}).status_code == 200, n
    assert invoke(hub, "priv", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert invoke(hub, "priv", auth=("other", token)).status_code == 401
    assert alice.api("DELETE", "/portal/deployments/priv/clients/app").status_code == 204
    deadline = time.monotonic() + 10
    while invoke(hub, "priv", headers={"Authorization": f"Bearer {token}"}).status_code != 401:
        assert time.monotonic() < deadline, "a revoked token still works"
        time.sleep(0.2)
    soon = (datetime.now(timezone.utc) + timedelta(seconds=4)).isoformat()
    short = alice.api("POST", "/portal/deployments/priv/clients", json={"name": "brief", "expires": soon}).json()
    assert invoke(hub, "priv", headers={"Authorization": f"Bearer {short['token']}"}).status_code == 200
    time.sleep(5)
    assert invoke(hub, "priv", headers={"Authorization": f"Bearer {short['token']}"}).status_code == 401


def test_an_update_under_load_loses_no_request(hub, alice):
    create(alice, id="roll", replicas=2, env={"VERSION": "1"})
    wait(alice, "roll", check=lambda d: d["available"] == 2)
    failures, versions, stop = [], [], threading.Event()

    def client():
        with requests.Session() as s:
            while not stop.is_set():
                try:
                    r = s.post(endpoint(hub, "roll"), json={"x": [1]}, timeout=10)
                    if r.status_code != 200:
                        failures.append(r.status_code)
                    else:
                        versions.append(r.json()["version"])
                except requests.RequestException as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        until(lambda: failures or len(versions) >= 20, 60, "answers of the first revision")
        r = alice.api("PATCH", "/portal/deployments/roll", json={"env": {"VERSION": "2"}})
        assert r.status_code == 200 and r.json()["revision"] == 2
        # the whole roll-out under load: the new revision serves, the first one's replicas are gone
        wait(alice, "roll", check=lambda d: d["serving_revision"] == 2 and d["available"] == 2, timeout=120)
        until(lambda: held(hub, "roll") == ["roll@2#0", "roll@2#1"], 120, "the first revision's replicas stopped")
        until(lambda: failures or (len(versions) > 100 and versions[-1] == "2"), 120, "answers of the new revision")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert failures == []
    assert versions[0] == "1" and versions[-1] == "2" and len(versions) > 100
    dep = wait(alice, "roll", check=lambda d: d["serving_revision"] == 2)
    assert dep["available"] == 2
    history = alice.api("GET", "/portal/deployments/roll/history").json()["history"]
    assert history[0]["revision"] == 2 and history[0]["username"] == "alice"
    assert held(hub, "roll") == ["roll@2#0", "roll@2#1"]


def test_a_killed_replica_restarts_while_the_other_serves(hub, alice):
    create(alice, id="heal", replicas=2)
    wait(alice, "heal", check=lambda d: d["available"] == 2)
    pids = {invoke(hub, "heal").json()["pid"] for _ in range(4)}
    assert len(pids) == 2
    victim = pids.pop()
    os.kill(victim, signal.SIGKILL)
    for _ in range(20):  # meanwhile every request is answered, by the other replica
        r = invoke(hub, "heal")
        assert r.status_code == 200, r.text
    deadline = time.monotonic() + 60  # restarted (with back-off) and back in the rotation
    while True:
        fresh = {invoke(hub, "heal").json()["pid"] for _ in range(6)}
        if len(fresh) == 2:
            break
        assert time.monotonic() < deadline, "the killed replica did not come back"
        time.sleep(0.5)
    assert victim not in fresh
    assert wait(alice, "heal", check=lambda d: d["available"] == 2)["phase"] == "Deployed"
    # the deployment says its replica was restarted, and why (issue 24), until it has stayed up a while
    seen = wait(alice, "heal", check=lambda d: d["restarts"] == 1)
    assert seen["restart_note"] == "Killed by SIGKILL (exit code 137): restarted once", seen


def test_stop_answers_503_with_retry_after_and_releases_quota(hub, alice):
    create(alice, id="halt")
    wait(alice, "halt")
    assert alice.api("POST", "/portal/deployments/halt/stop").status_code == 202
    wait(alice, "halt", phase="Stopped")
    r = invoke(hub, "halt")
    assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
    held = Ledger(hub.portal_db_url).reservations(kind="deployment")
    assert not [r for r in held if r.workload_id.startswith("halt@")]
    assert alice.api("POST", "/portal/deployments/halt/start").status_code == 202
    wait(alice, "halt")
    assert invoke(hub, "halt").status_code == 200


def test_limits_and_other_groups(hub, alice):
    create(alice, group="capped", id="only-one")
    create(alice, id="seen")
    r = alice.api("POST", "/portal/groups/capped/deployments", json={"id": "second", "name": "x", "command": "x"})
    assert r.status_code == 403 and "deployments_max" in r.json()["message"]
    r = alice.api("POST", "/portal/groups/serve/deployments", json={"id": "Bad_Id", "name": "x", "command": "x"})
    assert r.status_code == 400 and "id" in r.json()["errors"]
    olga = hub.login("olga", PASSWORD)
    r = olga.api("POST", "/portal/groups/other/deployments", json={"id": "nope", "name": "x", "command": "x"})
    assert r.status_code == 403 and "not enabled" in r.json()["message"]
    for method, path in (("GET", "/portal/deployments/seen"), ("PATCH", "/portal/deployments/seen"),
                         ("POST", "/portal/deployments/seen/stop"), ("GET", "/portal/deployments/seen/log"),
                         ("GET", "/portal/deployments/seen/clients"), ("DELETE", "/portal/deployments/seen"),
                         ("GET", "/portal/groups/serve/deployments")):
        assert olga.api(method, path, json={} if method in ("PATCH", "POST") else None).status_code == 404, path
    bob = hub.login("bob", PASSWORD)  # a member sees it but does not change it
    assert bob.api("GET", "/portal/deployments/seen").status_code == 200
    assert bob.api("POST", "/portal/deployments/seen/stop").status_code == 403
    assert requests.get(endpoint(hub, "no-such-thing"), timeout=10).status_code == 404


def test_a_registered_mlflow_model_is_served_by_mlflow_and_predicts(hub, alice, mlflow_server):  # noqa: F811
    version = mlflow_server.register_sklearn_model("hf-deploy-iris")
    admin = hub.admin()
    r = admin.api("PATCH", "/portal/groups/serve/policy", json={"mlflow_tracking_uri": mlflow_server.url})
    assert r.status_code == 200, r.text
    dep = create(alice, id="iris", model_uri=f"models:/hf-deploy-iris/{version}", command=None,
                 instance_type="model")
    assert dep["model_uri"] == f"models:/hf-deploy-iris/{version}" and dep["health_path"] == "/ping"
    wait(alice, "iris", timeout=240)
    r = requests.post(endpoint(hub, "iris"), json={"inputs": [[3.0, 0.0], [0.0, 0.0]]}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == [1, 0]
    log = alice.api("GET", "/portal/deployments/iris/log").text
    assert "mlflow" in log.lower() or "uvicorn" in log.lower(), log[-2000:]


def test_a_killed_runner_comes_back_and_adopts_the_serving_replicas(hub, alice):
    create(alice, id="steady", replicas=2)
    wait(alice, "steady", check=lambda d: d["available"] == 2)
    pids = {invoke(hub, "steady").json()["pid"] for _ in range(4)}
    admin = hub.admin()
    runner = admin.api("GET", "/services/hubfront-runner").json()["pid"]
    os.kill(runner, signal.SIGKILL)
    until = time.monotonic() + 90  # the hub polls its services every 30 s
    while True:  # meanwhile the endpoint is down with the runner; the replicas are not
        new = admin.api("GET", "/services/hubfront-runner").json()["pid"]
        if new and new != runner:
            break
        assert time.monotonic() < until, "the hub did not restart the runner"
        time.sleep(1)
    deadline = time.monotonic() + 30
    while True:
        try:
            if invoke(hub, "steady").status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "the endpoint did not come back with the runner"
        time.sleep(0.5)
    # the same replica processes serve: adopted, not restarted
    assert {invoke(hub, "steady").json()["pid"] for _ in range(6)} == pids
    held = Ledger(hub.portal_db_url).reservations(kind="deployment")
    assert sorted(r.workload_id for r in held if r.workload_id.startswith("steady@")) == ["steady@1#0", "steady@1#1"]
