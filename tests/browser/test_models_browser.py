"""The Models page in Chromium on the real hub: a model registered in a real MLflow server
(tests/support_mlflow.py) is listed with its versions, alias and Deploy link; a group whose
server is down says so; the group admin sets the tracking URI in the Groups console. Descriptions are
Markdown, rendered safely."""

from __future__ import annotations

import re
import socket
from urllib.parse import unquote

import pytest
from playwright.sync_api import expect

from support import screenshot, ui_login
from support_mlflow import mlflow_server  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser

MODEL = "hfml-browser-classifier"


def test_a_registered_model_is_listed_ready_to_deploy(page, portal_hub, mlflow_server, tmp_path):  # noqa: F811
    # descriptions are Markdown in MLflow: rendered, and nothing in them runs in the page
    first = mlflow_server.register_sklearn_model(
        MODEL, alias="champion", description="Big or small, from **four** points<script>window.hfRan = 1</script>")
    logged = mlflow_server.client().get_model_version(MODEL, first)
    second = mlflow_server.client().create_model_version(
        MODEL, logged.source, run_id=logged.run_id, model_id=logged.source.split("/")[-1],
        description="Refit on *more* points. [Notes](javascript:window.hfRan=2) <img src=x onerror=\"window.hfRan=3\">",
    ).version
    admin = portal_hub.admin()
    r = admin.api("PATCH", "/portal/groups/beta/policy",
                  json={"mlflow_tracking_uri": mlflow_server.url, "deployments_enabled": True})
    assert r.status_code == 200, r.text
    portal_hub.add_user("hfml-mia", "Mia-pass1", groups=["beta"])

    ui_login(page, portal_hub, "hfml-mia", "Mia-pass1")
    page.locator("#hf-sidemenu a.nav-link", has_text="Models").click()
    page.wait_for_url("**/hub/models")
    model = page.locator(f'#hf-models tbody.hf-model[data-name="{MODEL}"]')
    expect(model.locator(".hf-model-name")).to_have_text(MODEL)
    description = model.locator(".hf-model-description")
    expect(description).to_contain_text("Big or small, from four points")
    expect(description.locator("strong")).to_have_text("four")
    expect(description.locator("script")).to_have_count(0)
    newest = model.locator(f'tr.hf-model-version[data-version="{second}"] .hf-version-description')
    expect(newest.locator("em")).to_have_text("more")
    expect(newest.locator("img")).to_have_count(0)
    assert newest.locator("a").count() == 0 or "javascript" not in (newest.locator("a").get_attribute("href") or "")
    assert page.evaluate("window.hfRan") is None
    versions = model.locator("tr.hf-model-version")
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_have_attribute("data-version", second)  # newest first
    older = model.locator(f'tr.hf-model-version[data-version="{first}"]')
    expect(older.locator(".hf-alias")).to_have_text("@champion")
    expect(older.locator(".hf-status")).to_have_text("Ready")
    expect(older.locator(".hf-run")).to_have_text(logged.run_id[:12])
    expect(older.locator(".hf-created")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"))
    deploy = older.locator("a.hf-deploy")
    href = deploy.get_attribute("href")
    assert href.startswith("/hub/portal/deployments/new?model_uri=")
    assert unquote(href.split("=", 1)[1]) == f"models:/{MODEL}/{first}"
    screenshot(page, "models-markdown-descriptions")


def test_a_server_that_is_down_is_named_with_its_reason(page, portal_hub, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{s.getsockname()[1]}"
    admin = portal_hub.admin()
    assert admin.api("PATCH", "/portal/groups/alpha/policy", json={"mlflow_tracking_uri": uri}).status_code == 200
    portal_hub.add_user("hfml-ned", "Ned-pass1", groups=["alpha"])
    ui_login(page, portal_hub, "hfml-ned", "Ned-pass1")
    page.goto(portal_hub.base_url + "/hub/models")
    error = page.locator("#hf-models-error")
    expect(error).to_contain_text("could not be reached")
    expect(error).to_contain_text(uri)
    expect(error).to_contain_text("Connection refused")
    page.screenshot(path=str(tmp_path / "models-down.png"), full_page=True)


def test_no_server_set_tells_the_group_admin_where_to_set_it(page, portal_hub, tmp_path):
    admin = portal_hub.admin()
    admin.api("POST", "/groups/hfml-gamma").raise_for_status()
    portal_hub.add_user("hfml-ola", "Ola-pass1", groups=["hfml-gamma"])
    r = admin.api("PATCH", "/portal/groups/hfml-gamma/policy", json={"admins": ["hfml-ola"]})
    assert r.status_code == 200, r.text
    ui_login(page, portal_hub, "hfml-ola", "Ola-pass1")
    page.goto(portal_hub.base_url + "/hub/models")
    expect(page.locator("#hf-models-unconfigured")).to_contain_text("No MLflow tracking server is set for this group")
    page.screenshot(path=str(tmp_path / "models-unconfigured.png"), full_page=True)
    # the group admin sets it in the group's policy, in the Groups console
    page.locator("#hf-models-unconfigured a", has_text="Groups console").click()
    page.wait_for_url("**/hub/portal/admin/groups/hfml-gamma*")
    field = page.locator("#hf-p-mlflow_tracking_uri")
    expect(field).to_be_editable()
    field.fill("ftp://nowhere")
    page.click("#hf-policy-save")
    expect(page.locator('[data-error="mlflow_tracking_uri"]')).to_contain_text("must start with http://")
    field.fill("http://mlflow.example.org:5000")
    page.click("#hf-policy-save")
    expect(page.locator("#hf-policy-saved")).to_be_visible()
    screenshot(page, "models-tracking-uri-in-console")
    policy = admin.api("GET", "/portal/groups/hfml-gamma/policy").json()["policy"]
    assert policy["mlflow_tracking_uri"] == "http://mlflow.example.org:5000"
