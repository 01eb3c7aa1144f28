"""Apps in Chromium on the real hub, each at its own origin (http://<app>--<group>.apps.localhost:<port>;
Chromium reaches *.localhost at the loopback): a group admin installs MLflow from
the catalog on the Apps page, opens its UI, binds it as the group's Models registry; a member's notebook
registers a model in it with its own hub token and the Models page lists it; code-server opens and its
websocket works; an app's page that tries to mint a token with the admin's hub session gets nothing, and the
app never receives a hub cookie. Screenshots: apps.png, apps-mlflow.png, apps-models.png, apps-code-server.png,
apps-attack.png."""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from playwright.sync_api import expect

from hub_ext.store import session_scope
from hub_ext.store.models_apps import App
from spawner.plan import server_name_for
from support import need, run_in_server, screenshot, stop_leftover_servers, ui_login, wait_for_server

pytestmark = [pytest.mark.browser, pytest.mark.isolation]

GROUP = "apps-lab"
LEAD, MEMBER, PASSWORD = "hfap-lead", "hfap-mem", "Apps-pass1x"
NOTEBOOK = """
import os, socket
_real = socket.getaddrinfo  # *.localhost is the loopback (as in browsers; this machine's glibc may not say so)
socket.getaddrinfo = lambda h, *a, **k: _real('127.0.0.1' if str(h).endswith('.localhost') else h, *a, **k)
import mlflow, mlflow.pyfunc

class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return model_input

mlflow.set_experiment("from-a-notebook")
with mlflow.start_run():
    info = mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=["mlflow"],
                                   registered_model_name="notebook-model")
print(os.environ["MLFLOW_TRACKING_URI"], "token" if os.environ.get("MLFLOW_TRACKING_TOKEN") else "none",
      info.registered_model_version)
"""


@pytest.fixture(scope="module")
def lab(portal_hub):
    need(os.geteuid() == 0, "apps run as their group's service account: the hub must run as root (as in CI)")
    admin = portal_hub.admin()
    assert admin.api("POST", f"/groups/{GROUP}").status_code == 201
    policy = {"display_name": "Apps Lab", "admins": [LEAD], "instance_types": ["cpu-small", "cpu-medium"],
              "default_instance_type": "cpu-small"}
    assert admin.api("PUT", f"/portal/groups/{GROUP}/policy", json={"policy": policy}).status_code == 200
    portal_hub.add_user(LEAD, PASSWORD, [GROUP])
    portal_hub.add_user(MEMBER, PASSWORD, [GROUP])
    for user in (LEAD, MEMBER):
        portal_hub.login(user, PASSWORD).api("PUT", "/portal/me/context", json={"group": GROUP})
    yield portal_hub
    lead = portal_hub.login(LEAD, PASSWORD)  # stopped by the runner (which would restart a killed one)
    apps = lead.api("GET", f"/portal/groups/{GROUP}/apps").json()["apps"]
    for app in apps:
        lead.api("POST", f"/portal/groups/{GROUP}/apps/{app['name']}/stop", json={})
    until = time.monotonic() + 60
    while any(a["phase"] != "Stopped" for a in lead.api("GET", f"/portal/groups/{GROUP}/apps").json()["apps"]):
        if time.monotonic() > until:
            break
        time.sleep(0.5)
    stop_leftover_servers(portal_hub.data_dir)  # apps outlive the runner by design


def wait_running(session, name: str, timeout: float = 240) -> dict:
    until = time.monotonic() + timeout
    while (app := session.api("GET", f"/portal/groups/{GROUP}/apps/{name}").json())["phase"] != "Running":
        assert app["phase"] != "Failed" and time.monotonic() < until, f"{name}: {app['phase']} {app['message']}"
        time.sleep(1)
    return app


def test_mlflow_installed_opened_bound_and_fed_from_a_notebook(page, lab):
    ui_login(page, lab, LEAD, PASSWORD)
    page.goto(lab.base_url + "/hub/portal/apps")
    card = page.locator('.hf-template[data-template="mlflow"]')
    expect(card).to_contain_text("MLflow tracking server")
    card.get_by_role("button", name="Install").click()
    form = card.locator("form.hf-install-form")
    form.locator('input[name="name"]').fill("mlflow")
    # the form's default: the group's (cpu-small), which holds MLflow run as its template says (1 worker)
    expect(form.locator('select[name="instance_type"]')).to_have_value("cpu-small")
    expect(form).to_have_class(re.compile(r"\bshow\b"))  # opened (not still sliding open)
    screenshot(page, "apps-install")
    form.get_by_role("button", name=re.compile("^Install MLflow")).click()
    installed = page.locator('.hf-app[data-name="mlflow"]')
    expect(installed).to_be_visible()
    lead = lab.login(LEAD, PASSWORD)
    wait_running(lead, "mlflow")
    # the page reloads itself once the app got where it was going (a reload of ours could abort that one)
    expect(installed.locator(".hf-app-phase")).to_have_text("Running", timeout=30_000)
    installed.get_by_role("button", name="Log").click()  # the live log: the server's own output
    expect(installed.locator(".hf-app-log")).to_contain_text("Uvicorn running", timeout=30_000)
    screenshot(page, "apps-log")
    installed.get_by_role("button", name="Log").click()
    installed.get_by_role("button", name="Use as Models registry").click()
    expect(installed.get_by_role("button", name="Unbind registry")).to_be_visible()  # the page reloaded
    page.wait_for_load_state()
    expect(installed).to_contain_text("Models registry")
    screenshot(page, "apps")
    # the Open link is the app's own origin; its UI, through the forwarder, at the root there
    origin = lab.app_origin(GROUP, "mlflow")
    expect(installed.locator("a.hf-app-open")).to_have_attribute("href", origin + "/")
    page.goto(origin + "/", wait_until="domcontentloaded", timeout=60_000)
    expect(page).to_have_title(re.compile("MLflow"))
    page.get_by_text("Experiments").first.click(timeout=30_000)
    expect(page.get_by_text("Default").first).to_be_visible(timeout=30_000)  # the experiments, from its REST API
    screenshot(page, "apps-mlflow")
    # a member's notebook registers a model in it, with its own hub token
    member = lab.login(MEMBER, PASSWORD)
    server = server_name_for(GROUP)
    r = member.api("POST", f"/users/{MEMBER}/servers/{server}", json={"group": GROUP, "instance_type": "cpu-small"})
    assert r.status_code in (201, 202), r.text
    wait_for_server(member, MEMBER, server, hub=lab)
    try:
        out = run_in_server(member, MEMBER, server, NOTEBOOK, timeout=180).strip().splitlines()[-1].split()
    finally:
        member.api("DELETE", f"/users/{MEMBER}/servers/{server}")
    assert out[0] == lab.app_origin(GROUP, "mlflow") and out[1:] == ["token", "1"], out
    # the Models page lists it (the hub reads the app directly)
    page.goto(lab.base_url + "/hub/models")
    expect(page.locator('#hf-models tbody.hf-model[data-name="notebook-model"]')).to_be_visible()
    screenshot(page, "apps-models")


def test_code_server_opens_and_its_websocket_works(page, lab):
    lead = lab.login(LEAD, PASSWORD)
    r = lead.api("POST", f"/portal/groups/{GROUP}/apps", json={"name": "code", "template": "code-server",
                                                                   "instance_type": "cpu-medium"})
    assert r.status_code == 201, r.text
    wait_running(lead, "code", timeout=600)  # the first install builds code-server (minutes)
    ui_login(page, lab, LEAD, PASSWORD)
    page.goto(lab.app_origin(GROUP, "code") + "/")
    expect(page.locator(".monaco-workbench")).to_be_visible(timeout=60_000)
    # the workbench talks to its server over a websocket: the explorer lists the group's storage
    expect(page.locator(".explorer-folders-view")).to_be_visible(timeout=60_000)
    expect(page.locator(".explorer-folders-view")).to_contain_text("apps", timeout=60_000)
    expect(page.get_by_text("Cannot reconnect")).to_have_count(0)
    screenshot(page, "apps-code-server")
    assert json.loads(json.dumps(lead.api("GET", f"/portal/groups/{GROUP}/apps/code").json()))["phase"] == "Running"


def test_an_apps_page_gets_nothing_of_the_hub_and_no_hub_cookie(page, lab):
    """Issue 20: an admin logged in to the hub opens a group app whose page reads /hub/home for the XSRF
    token and mints a token (relative to its origin, and at the hub's): it logs in to the app at the app's
    origin, its script runs there, and gets nothing; the app's server logged no hub cookie."""
    with session_scope(lab.portal_db_url) as s:  # a template the catalog does not offer (tests/attack_pages.py)
        s.add(App(group=GROUP, name="attack", template="attack", username=LEAD, instance_type="cpu-small",
                  cpu=0.5, memory=2**30, access="users"))
    lead = lab.login(LEAD, PASSWORD)
    wait_running(lead, "attack", timeout=120)
    admin = lab.admin()
    before = admin.api("GET", "/users/admin/tokens").json()["api_tokens"]
    ui_login(page, lab, "admin", lab.admin_password)
    origin = lab.app_origin(GROUP, "attack")
    page.goto(f"{origin}/?user=admin&hub={lab.base_url}")  # through the hub's login, back with a ticket
    expect(page.locator("body[data-done]")).to_have_count(1, timeout=30_000)
    assert page.url.startswith(origin + "/?user=admin")
    result = json.loads(page.locator("#out").inner_text())
    assert result["ran"] and len(result["tries"]) == 2
    assert all(t.get("status") != 201 and '"token"' not in t.get("body", "") for t in result["tries"]), result
    assert "error" in result["tries"][1]  # the hub's origin answers no other origin's script
    screenshot(page, "apps-attack")
    after = admin.api("GET", "/users/admin/tokens").json()["api_tokens"]
    assert not any(t["note"] == "stolen" for t in after)
    # the only new token is the apps' login (the runner's OAuth client), none made by the page
    assert all(t.get("oauth_client") for t in after if t["id"] not in {b["id"] for b in before}), after
    log = lab.data_dir / "groups" / GROUP / "apps" / "attack" / "cookies.log"
    seen = [json.loads(line)["cookie"] or "" for line in log.read_text().splitlines()]
    assert seen and not any(n in c for c in seen for n in ("jupyterhub-", "hubfront-apps")), seen
    lead.api("POST", f"/portal/groups/{GROUP}/apps/attack/stop", json={})
