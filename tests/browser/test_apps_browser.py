"""Apps in Chromium on the real hub, through /apps/<group>/<app>/: a group admin installs MLflow from
the catalog on the Apps page, opens its UI, binds it as the group's Models registry; a member's notebook
registers a model in it with its own hub token and the Models page lists it; code-server opens and its
websocket works. Screenshots: apps.png, apps-mlflow.png, apps-models.png, apps-code-server.png."""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from playwright.sync_api import expect

from spawner.plan import server_name_for
from support import need, run_in_server, screenshot, stop_leftover_servers, ui_login, wait_for_server

pytestmark = [pytest.mark.browser, pytest.mark.isolation]

GROUP = "apps-lab"
LEAD, MEMBER, PASSWORD = "hfap-lead", "hfap-mem", "Apps-pass1x"
NOTEBOOK = """
import os, mlflow, mlflow.pyfunc

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
    form.locator('select[name="instance_type"]').select_option("cpu-medium")  # MLflow 3 outgrows 1 GiB
    expect(form).to_have_class(re.compile(r"\bshow\b"))  # opened (not still sliding open)
    screenshot(page, "apps-install")
    form.get_by_role("button", name=re.compile("^Install MLflow")).click()
    installed = page.locator('.hf-app[data-name="mlflow"]')
    expect(installed).to_be_visible()
    lead = lab.login(LEAD, PASSWORD)
    wait_running(lead, "mlflow")
    page.reload()
    expect(installed.locator(".hf-app-phase")).to_have_text("Running")
    installed.get_by_role("button", name="Log").click()  # the live log: the server's own output
    expect(installed.locator(".hf-app-log")).to_contain_text("Uvicorn running", timeout=30_000)
    screenshot(page, "apps-log")
    installed.get_by_role("button", name="Log").click()
    installed.get_by_role("button", name="Use as Models registry").click()
    expect(installed.get_by_role("button", name="Unbind registry")).to_be_visible()  # the page reloaded
    page.wait_for_load_state()
    expect(installed).to_contain_text("Models registry")
    screenshot(page, "apps")
    # its UI, through the forwarder, under its prefix
    page.goto(lab.base_url + f"/apps/{GROUP}/mlflow/", wait_until="domcontentloaded", timeout=60_000)
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
    assert out[0].endswith(f"/apps/{GROUP}/mlflow") and out[1:] == ["token", "1"], out
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
    page.goto(lab.base_url + f"/apps/{GROUP}/code/")
    expect(page.locator(".monaco-workbench")).to_be_visible(timeout=60_000)
    # the workbench talks to its server over a websocket: the explorer lists the group's storage
    expect(page.locator(".explorer-folders-view")).to_be_visible(timeout=60_000)
    expect(page.locator(".explorer-folders-view")).to_contain_text("apps", timeout=60_000)
    expect(page.get_by_text("Cannot reconnect")).to_have_count(0)
    screenshot(page, "apps-code-server")
    assert json.loads(json.dumps(lead.api("GET", f"/portal/groups/{GROUP}/apps/code").json()))["phase"] == "Running"
