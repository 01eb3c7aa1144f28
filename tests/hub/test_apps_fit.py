"""Apps fit their instance type, on a MockHub (issue 24): the install form offers only the instance types
that hold a template (the others disabled with the reason) and picks the group's default only when it
holds it; the API refuses a smaller one, on install and on a change, with a 400 naming ``instance_type``;
an app's restarts and why reach its API answer and its card (once, not twice, "Running"); the Models
page names the real cause when the bound MLflow app does not answer.

The runner is replaced by an idle server (tests/hub/test_deployments_pages.py): what it would report is
written into the app's row here, as the runner writes it.
"""

from __future__ import annotations

import html
import json
import re

from sqlalchemy import update

from conftest_helpers import login, make_user
from hub_ext.settings import Hubfront
from hub_ext.store import session_scope
from hub_ext.store.models_apps import App
from test_deployments_pages import hub_config as idle_runner

CATALOG = {
    "instance_types": [{"name": "cpu-tiny", "cpu": "250m", "memory": "512Mi"},
                       {"name": "cpu-small", "cpu": "500m", "memory": "1Gi"},
                       {"name": "cpu-medium", "cpu": 2, "memory": "4Gi"}],
    "images": [{"name": "base", "image": "example.org/base:1"}],
}
MLFLOW_TOO_SMALL = "MLflow tracking server needs at least 1 GiB of memory and 0.5 CPU; cpu-tiny has 512 MiB and 0.25 CPU"


def hub_config(cfg, data):
    idle_runner(cfg, data)
    cfg.Hubfront.catalog_config = CATALOG


async def admin_of(app, group: str, **policy):
    await make_user(app, f"{group}-boss", groups=[group], policies={group: {"admins": [f"{group}-boss"], **policy}})
    s = await login(app, f"{group}-boss")
    await s.api("PUT", "/portal/me/context", data=json.dumps({"group": group}))
    return s


def runner_writes(group: str, name: str, **values) -> None:
    with session_scope(Hubfront.instance().db_url) as s:
        s.execute(update(App).where(App.group == group, App.name == name).values(**values))


async def page_of(session, path: str) -> str:
    return (await session.get(path)).content.decode()  # UTF-8 (the page says so in its <meta>)


def install_form(page: str, template: str) -> str:
    return re.search(rf'<form [^>]*id="hf-install-{template}".*?</form>', page, re.S).group(0)


def card(page: str, name: str) -> str:
    return re.search(rf'<section class="card mb-2 hf-app" data-name="{name}".*?</section>', page, re.S).group(0)


async def test_the_install_form_offers_only_types_that_hold_the_app_and_defaults_to_one(app):
    boss = await admin_of(app, "fit-a", default_instance_type="cpu-tiny")
    page = await page_of(boss, "hub/portal/apps")
    form = install_form(page, "mlflow")
    options = dict(re.findall(r'<option value="([^"]+)"([^>]*)>', form))
    # too small: disabled, with the reason in its label; the default the first that holds it (not the group's)
    assert "disabled" in options["cpu-tiny"] and "selected" not in options["cpu-tiny"]
    assert 'data-why-not="needs at least 1 GiB of memory and 0.5 CPU"' in options["cpu-tiny"]
    assert "cpu-tiny (0.25 CPU, 512 MiB) — needs at least 1 GiB of memory and 0.5 CPU" in html.unescape(form)
    assert "selected" in options["cpu-small"] and "disabled" not in options["cpu-small"]
    assert "disabled" not in options["cpu-medium"]
    assert "MLflow tracking server needs at least 1 GiB of memory and 0.5 CPU; too small for it: cpu-tiny." in form
    # a template that fits the group's default gets it
    streamlit = dict(re.findall(r'<option value="([^"]+)"([^>]*)>', install_form(page, "streamlit")))
    assert "selected" in streamlit["cpu-tiny"] and "disabled" not in streamlit["cpu-tiny"]

    # the API: no instance type given is the form's default; a too-small one is refused naming the field
    api = "/portal/groups/fit-a/apps"
    r = await boss.api("POST", api, data=json.dumps({"name": "tracking", "template": "mlflow"}))
    assert r.status_code == 201 and r.json()["instance_type"] == "cpu-small", r.text
    r = await boss.api("POST", api, data=json.dumps({"name": "tiny", "template": "mlflow", "instance_type": "cpu-tiny"}))
    assert r.status_code == 400
    assert r.json()["errors"] == {"instance_type": MLFLOW_TOO_SMALL}
    assert r.json()["message"] == f"instance_type: {MLFLOW_TOO_SMALL}"
    # a change to a too-small type too; other changes of the app go through
    r = await boss.api("PATCH", api + "/tracking", data=json.dumps({"instance_type": "cpu-tiny"}))
    assert r.status_code == 400 and r.json()["errors"] == {"instance_type": MLFLOW_TOO_SMALL}
    r = await boss.api("PATCH", api + "/tracking", data=json.dumps({"instance_type": "cpu-medium"}))
    assert r.status_code == 200 and r.json()["instance_type"] == "cpu-medium" and r.json()["revision"] == 2
    r = await boss.api("PATCH", api + "/tracking", data=json.dumps({"access": "users"}))
    assert r.status_code == 200 and r.json()["access"] == "users"
    # the settings form of the installed app disables the too-small type too
    settings = re.search(r'<form class="collapse mt-2 hf-app-settings".*?</form>', card(
        await page_of(boss, "hub/portal/apps"), "tracking"), re.S).group(0)
    assert re.search(r'<option value="cpu-tiny"[^>]* disabled', settings)
    # the templates' minimums are in the catalog's answer
    templates = {t["name"]: t for t in (await boss.api("GET", "/portal/apps/templates")).json()["templates"]}
    assert (templates["mlflow"]["min_memory"], templates["mlflow"]["min_cpu"]) == (2**30, 0.5)


async def test_a_group_without_a_type_that_holds_the_app_cannot_install_it(app):
    boss = await admin_of(app, "fit-b", instance_types=["cpu-tiny"])
    form = install_form(await page_of(boss, "hub/portal/apps"), "mlflow")
    assert re.search(r'<button class="btn btn-sm btn-success" type="submit" disabled>', form)
    assert "no instance type the group may use holds it" in form
    r = await boss.api("POST", "/portal/groups/fit-b/apps", data=json.dumps({"name": "m", "template": "mlflow"}))
    assert r.status_code == 400 and "no instance type group fit-b may use holds MLflow tracking server" in \
        r.json()["errors"]["instance_type"]


async def test_restarts_and_their_reason_reach_the_api_and_the_card(app):
    boss = await admin_of(app, "fit-c")
    api = "/portal/groups/fit-c/apps"
    assert (await boss.api("POST", api, data=json.dumps({"name": "mlflow", "template": "mlflow"}))).status_code == 201
    # running: "Running" once on its card (the badge), no message repeating it
    runner_writes("fit-c", "mlflow", phase="Running", message="", endpoint="http://127.0.0.1:9")
    body = (await boss.api("GET", api + "/mlflow")).json()
    assert (body["restarts"], body["last_restart_reason"], body["last_restart_message"]) == (0, None, None)
    shown = re.sub(r"<[^>]+>", " ", card(await page_of(boss, "hub/portal/apps"), "mlflow"))
    assert shown.count("Running") == 1, shown
    # restarted after running out of memory: the count and the reason, on the card and in the API
    note = "Out of memory (limit 1 GiB): restarted 4 times — choose a larger instance type"
    runner_writes("fit-c", "mlflow", phase="Starting", message=note, endpoint="", restarts=4,
                  restart_reason="OOMKilled", restart_message="Out of memory (limit 1 GiB)")
    body = (await boss.api("GET", api + "/mlflow")).json()
    assert (body["restarts"], body["last_restart_reason"]) == (4, "OOMKilled")
    assert body["last_restart_message"] == "Out of memory (limit 1 GiB)" and body["restart_note"] == note
    shown = html.unescape(card(await page_of(boss, "hub/portal/apps"), "mlflow"))
    assert "restarted 4×: out of memory" in shown and note in shown
    # no longer restarted: Failed with the reason, and a Start button to try again (restarts from 0)
    runner_writes("fit-c", "mlflow", phase="Failed", reason="OOMKilled", restarts=5,
                  message="Out of memory (limit 1 GiB): restarted 5 times — choose a larger instance type. "
                          "No longer restarted: change its instance type in Settings, then Start it again.")
    shown = html.unescape(card(await page_of(boss, "hub/portal/apps"), "mlflow"))
    assert "hf-app-start" in shown and "No longer restarted" in shown and 'title="OOMKilled"' in shown
    r = await boss.api("POST", api + "/mlflow/start", data="{}")
    assert r.status_code == 202 and (r.json()["phase"], r.json()["restarts"]) == ("Starting", 0)


async def test_the_models_page_names_why_the_bound_app_does_not_answer(app):
    boss = await admin_of(app, "fit-d")
    await make_user(app, "fit-d-mem", groups=["fit-d"])
    member = await login(app, "fit-d-mem")
    await member.api("PUT", "/portal/me/context", data=json.dumps({"group": "fit-d"}))
    api = "/portal/groups/fit-d/apps"
    assert (await boss.api("POST", api, data=json.dumps({"name": "mlflow", "template": "mlflow"}))).status_code == 201
    assert (await boss.api("POST", api + "/mlflow/registry", data="{}")).json()["bound"]
    cases = [
        (dict(phase="Starting", restarts=3, restart_reason="OOMKilled", restart_message="Out of memory (limit 1 GiB)"),
         "The group's MLflow app is not answering (restarting after running out of memory)"),
        (dict(phase="Starting", restarts=0), "The group's MLflow app is not answering (starting)"),
        (dict(phase="Stopped", restarts=0), "The group's MLflow app is not answering (stopped; a group admin "
                                            "starts it on the Apps page)"),
        (dict(phase="Failed", reason="OOMKilled", restarts=5), "The group's MLflow app is not answering (failed: it "
                                                               "ran out of memory"),
    ]
    for state, said in cases:
        runner_writes("fit-d", "mlflow", endpoint="", **state)
        page = html.unescape(await page_of(member, "hub/models"))
        assert said in page and "It is the app 'mlflow' on the Apps page." in page, page
        assert "Log in to the hub" not in page and "INTERNAL_ERROR" not in page
        r = await member.api("GET", "/portal/groups/fit-d/models")
        assert r.status_code == 502 and said in r.json()["message"]
