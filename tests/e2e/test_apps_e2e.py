"""Apps end to end: the real hub and runner; an MLflow tracking server installed in a group runs as the
group's service account (not the installer) in its own cgroup, holds a kind ``app`` reservation, serves
its UI and REST API at the root of its own origin from the group's storage; stop releases the reservation; settings
survive a stop/start and a runner restart (the process adopted, not restarted); installed at the size the
form and the API pick by default (not the group's default, too small for it) it takes 20 model registrations
and 50 UI page loads without a restart, and a too-small instance type is refused naming ``instance_type``;
uninstall keeps the data unless asked."""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import signal
import time
from urllib.parse import urlsplit

import psutil
import pytest
import requests
from sqlalchemy import select

from bench.app_footprint import load_ui, register_models
from hub_ext.isolation.names import service_account_name
from hub_ext.ledger import Ledger
from hub_ext.store.engine import read_scope
from hub_ext.store.models_apps import App
from support import ACCOUNT_PREFIX, catalog_hub, make_groups, need, proxy_command, stop_leftover_servers

pytestmark = [pytest.mark.e2e, pytest.mark.isolation]

PASSWORD = "apps-Passw0rd!x"
API = "/portal/groups/lab/apps"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "apps run as their group's service account: the hub must run as root (as in CI)")
    hub = catalog_hub(tmp_path_factory.mktemp("apps-e2e"), [{"name": "app", "cpu": "1", "memory": "2Gi"},
                                                            {"name": "tiny", "cpu": "250m", "memory": "512Mi"}],
                      "c.LocalDeployments.check_interval = 0.3\n")
    hub.start()
    try:
        # the group's default is too small for MLflow: the form's default (and the API's) is the next that holds it
        make_groups(hub, {"lab": {"instance_types": ["tiny", "app"], "default_instance_type": "tiny",
                                  "admins": ["lead"], "quota": {"cpu": 1}}})
        make_groups(hub, {"other": {"instance_types": ["app"], "default_instance_type": "app"}})
        hub.add_user("lead", PASSWORD, ["lab"])
        hub.add_user("member", PASSWORD, ["lab"])
        hub.add_user("olga", PASSWORD, ["other"])
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)  # apps outlive the runner by design


@pytest.fixture(scope="module")
def lead(hub):
    return hub.login("lead", PASSWORD)


def wait(s, name, phase="Running", timeout=120.0):
    until = time.monotonic() + timeout
    while True:
        app = s.api("GET", f"{API}/{name}").json()
        if app["phase"] == phase:
            return app
        assert time.monotonic() < until, f"app {name} still {app['phase']}: {app['message']}"
        time.sleep(0.5)


def row(hub, name) -> App:
    with read_scope(hub.portal_db_url) as s:
        return s.scalars(select(App).where(App.group == "lab", App.name == name)).first()


def server_process(data: str) -> psutil.Process:
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "mlflow" in cmd and "server" in cmd and f"{data}/mlflow.db" in cmd and "--static-prefix" not in cmd:
            return p
    raise AssertionError(f"no mlflow server of {data} runs")


def app_token(pid: int) -> str:
    """The token the app's process was given (read as root, as a member of another account could not)."""
    environ = dict(v.split("=", 1) for v in open(f"/proc/{pid}/environ").read().split("\0") if "=" in v)
    return environ["JUPYTERHUB_API_TOKEN"]


def as_token(hub, token: str, path: str) -> requests.Response:
    return requests.get(f"{hub.base_url}/hub/api{path}", headers={"Authorization": f"token {token}"}, timeout=10)


def held(hub) -> list[str]:
    return sorted(r.workload_id for r in Ledger(hub.portal_db_url).reservations(kind="app"))


def test_mlflow_runs_as_the_groups_service_account_and_keeps_its_settings(hub, lead):
    r = lead.api("POST", API, json={"name": "mlflow", "template": "mlflow", "access": "users"})
    assert r.status_code == 201, r.text
    assert r.json()["instance_type"] == "app"  # not the group's default, tiny: MLflow needs 1 GiB
    app = wait(lead, "mlflow")
    assert app["url"] == hub.app_origin("lab", "mlflow") + "/"  # its own origin
    prefix = ""  # served at its root there
    where = str(hub.data_dir / "groups" / "lab" / "apps" / "mlflow")
    # the group's service account, not the installer, in a cgroup of its own
    proc = server_process(where)
    assert proc.username() == service_account_name(ACCOUNT_PREFIX, "lab") != f"{ACCOUNT_PREFIX}lead"
    assert "/app-mlflow-" in open(f"/proc/{proc.pid}/cgroup").read()
    app_id = row(hub, "mlflow").id
    assert held(hub) == [f"{app_id}@1"]
    # the UI and the REST API under the prefix, as the runner reaches it; the data in the group's storage
    endpoint = row(hub, "mlflow").endpoint  # its own network namespace's address (it listens on its loopback)
    assert ipaddress.IPv4Address(urlsplit(endpoint).hostname) in ipaddress.IPv4Network("10.213.0.0/16")
    assert os.stat(f"/proc/{proc.pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino
    assert "<title>MLflow</title>" in requests.get(f"{endpoint}{prefix}/", timeout=10).text
    # its token is of its own hub service, not of the member who installed it: it says who it is and no more
    token = app_token(proc.pid)
    me = as_token(hub, token, "/user")
    assert me.status_code == 200 and me.json()["kind"] == "service", me.text
    assert me.json()["name"] == f"hubfront-app-{app_id}"
    assert as_token(hub, token, "/users").status_code == 403
    assert as_token(hub, token, "/portal/groups/lab/apps").status_code == 403
    assert row(hub, "mlflow").token_encrypted and token not in row(hub, "mlflow").token_encrypted
    r = requests.post(f"{endpoint}{prefix}/api/2.0/mlflow/experiments/create", json={"name": "e2e"}, timeout=10)
    assert r.status_code == 200, r.text
    data = hub.data_dir / "groups" / "lab" / "apps" / "mlflow"
    assert (data / "mlflow.db").is_file() and (data / "artifacts").is_dir()
    # members read it; only the group's admins stop it
    member = hub.login("member", PASSWORD)
    assert member.api("GET", f"{API}/mlflow").json()["phase"] == "Running"
    assert member.api("POST", f"{API}/mlflow/stop", json={}).status_code == 403
    # stop: the process ends, the reservation goes; the settings stay
    assert lead.api("POST", f"{API}/mlflow/stop", json={}).status_code == 202
    wait(lead, "mlflow", "Stopped")
    assert held(hub) == []
    assert as_token(hub, token, "/user").status_code == 403  # its token went with it
    assert f"hubfront-app-{app_id}" not in hub.admin().api("GET", "/services").json()
    with pytest.raises(AssertionError):
        server_process(where)
    assert lead.api("POST", f"{API}/mlflow/start", json={}).status_code == 202
    app = wait(lead, "mlflow")
    assert app["access"] == "users" and held(hub) == [f"{app_id}@1"]
    endpoint = row(hub, "mlflow").endpoint
    r = requests.get(f"{endpoint}{prefix}/api/2.0/mlflow/experiments/get-by-name",
                     params={"experiment_name": "e2e"}, timeout=10)
    assert r.status_code == 200, r.text  # what it stored before the stop
    # the runner is killed; the hub starts a new one, which adopts the running app
    pid = server_process(where).pid
    token = app_token(pid)
    assert as_token(hub, token, "/user").json()["name"] == f"hubfront-app-{app_id}"
    admin = hub.admin()
    runner = admin.api("GET", "/services/hubfront-runner").json()["pid"]
    os.kill(runner, signal.SIGKILL)
    until = time.monotonic() + 90  # the hub polls its services every 30 s
    while admin.api("GET", "/services/hubfront-runner").json()["pid"] in (None, runner):
        assert time.monotonic() < until, "the hub did not restart the runner"
        time.sleep(1)
    time.sleep(3)  # a few passes of the new runner
    app = wait(lead, "mlflow")
    assert server_process(where).pid == pid and app["access"] == "users"
    assert held(hub) == [f"{app_id}@1"]
    assert as_token(hub, token, "/user").status_code == 200  # the adopted app keeps its token


PROBE = r"""
import json, socket, sys, urllib.error, urllib.request
_real = socket.getaddrinfo  # *.localhost is the loopback (as in browsers; this machine's glibc may not say so)
socket.getaddrinfo = lambda h, *a, **k: _real("127.0.0.1" if str(h).endswith(".localhost") else h, *a, **k)
host, port, origin = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    socket.create_connection((host, port), timeout=4).close()
    direct = "open"
except OSError as exc:
    direct = type(exc).__name__
class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None
try:
    forwarded = urllib.request.build_opener(Stay).open(origin + "/api/2.0/mlflow/experiments/search?max_results=5",
                                                       timeout=10).status
except urllib.error.HTTPError as exc:
    forwarded = exc.code
print("PROBE " + json.dumps([direct, forwarded]))
"""


def test_another_groups_job_reaches_the_app_only_through_its_forwarder_and_is_refused(hub, lead):
    app = wait(lead, "mlflow")
    endpoint = urlsplit(row(hub, "mlflow").endpoint)
    olga = hub.login("olga", PASSWORD)
    command = f"python3 -c {shlex.quote(PROBE)} {endpoint.hostname} {endpoint.port} {app['url'].rstrip('/')}"
    r = olga.api("POST", "/portal/groups/other/jobs", json={"name": "probe", "command": command})
    assert r.status_code == 201, r.text
    until = time.monotonic() + 120
    while (job := olga.api("GET", f"/portal/jobs/{r.json()['id']}").json())["phase"] not in ("Succeeded", "Failed"):
        assert time.monotonic() < until, job
        time.sleep(0.3)
    log = olga.api("GET", f"/portal/jobs/{job['id']}/log").text
    assert job["phase"] == "Succeeded", log
    direct, forwarded = json.loads(log.split("PROBE ", 1)[1].splitlines()[0])
    assert direct != "open"  # the app's own address is no other workload's to reach
    assert forwarded in (302, 401, 403)  # its origin answers, with the forwarder's check: not olga's app


def test_bound_as_the_registry_the_models_page_lists_what_was_registered(hub, lead):  # before the 20 below
    r = lead.api("POST", f"{API}/mlflow/registry", json={})
    assert r.status_code == 200 and r.json()["bound"], r.text
    public = r.json()["mlflow_tracking_uri"]
    assert public == hub.app_origin("lab", "mlflow")  # the app's own origin, not the hub's
    app = row(hub, "mlflow")
    r = requests.post(f"{app.endpoint}/api/2.0/mlflow/registered-models/create",
                      json={"name": "e2e-model"}, timeout=10)
    assert r.status_code == 200, r.text
    # the hub reads the app where the runner reaches it; members are shown its public address
    member = hub.login("member", PASSWORD)
    listing = member.api("GET", "/portal/groups/lab/models").json()
    assert listing["configured"] and listing["tracking_uri"] == public, listing
    assert [m["name"] for m in listing["models"]] == ["e2e-model"]


def test_mlflow_at_the_forms_default_takes_20_registrations_and_50_page_loads_without_a_restart(hub, lead):
    endpoint = row(hub, "mlflow").endpoint
    assert "<title>MLflow</title>" in requests.get(f"{endpoint}/", timeout=10).text  # its UI
    assert len(register_models(endpoint, 20, "e2e-load")) == 20
    assert load_ui(endpoint, 50) > 0
    app = lead.api("GET", f"{API}/mlflow").json()
    assert (app["phase"], app["restarts"], app["last_restart_reason"], app["message"]) == ("Running", 0, None, "")


def test_a_too_small_instance_type_is_refused_naming_it(hub, lead):
    too_small = "MLflow tracking server needs at least 1 GiB of memory and 0.5 CPU; tiny has 512 MiB and 0.25 CPU"
    r = lead.api("POST", API, json={"name": "small", "template": "mlflow", "instance_type": "tiny"})
    assert r.status_code == 400 and r.json()["errors"] == {"instance_type": too_small}, r.text
    r = lead.api("PATCH", f"{API}/mlflow", json={"instance_type": "tiny"})
    assert r.status_code == 400 and r.json()["errors"] == {"instance_type": too_small}, r.text
    assert row(hub, "small") is None and row(hub, "mlflow").instance_type == "app"


def test_a_second_app_over_the_groups_quota_fails_with_the_ledgers_message(hub, lead):
    assert lead.api("POST", API, json={"name": "more", "template": "mlflow"}).status_code == 201
    app = wait(lead, "more", "Failed", timeout=60)
    assert app["reason"] == "OverQuota" and "CPU" in app["message"]
    assert lead.api("DELETE", f"{API}/more?delete_data=1").status_code == 204


def test_uninstall_keeps_the_data_unless_asked(hub, lead):
    data = hub.data_dir / "groups" / "lab" / "apps" / "mlflow"
    assert lead.api("DELETE", f"{API}/mlflow").status_code == 204
    until = time.monotonic() + 60
    while row(hub, "mlflow") is not None:
        assert time.monotonic() < until, "the app was not removed"
        time.sleep(0.5)
    assert (data / "mlflow.db").is_file() and held(hub) == []
