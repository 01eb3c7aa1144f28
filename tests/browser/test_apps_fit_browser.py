"""Apps that fit their instance type, in Chromium on a real hub (issue 24): the install form of MLflow shows the
instance type too small for it disabled with the reason and picks the first that holds it; an app that runs out
of memory says so on its card while it is restarted, then shows Failed with the reason once the runner stopped
restarting it; the Models page, its registry being that app, names the cause instead of an error about logging in.

The app that runs out of memory is an operator template of this hub (``greedy``: it serves, then eats memory
until the kernel kills it), so it does so every time, in seconds. Screenshots: apps-fit-install.png,
apps-fit-install-types.png (the form, its instance types listed), apps-oom-restarting.png, models-app-oom.png,
apps-oom-failed.png.
"""

from __future__ import annotations

import os
import re
import shlex
import textwrap
from pathlib import Path

import pytest
from playwright.sync_api import expect

from support import REPO, SCREENSHOTS, RealHub, need, proxy_command, screenshot, ui_login, until

pytestmark = [pytest.mark.browser, pytest.mark.isolation]

GROUP, LEAD, PASSWORD = "fit-lab", "hffit-lead", "Fit-pass1x"
CATALOG = textwrap.dedent("""
    catalog:
      instance_types:
        - {name: cpu-tiny, display_name: CPU tiny, cpu: 250m, memory: 512Mi}
        - {name: cpu-small, display_name: CPU small, cpu: 500m, memory: 1Gi}
        - {name: cpu-medium, display_name: CPU medium, cpu: 2, memory: 4Gi}
      images:
        - {name: base, display_name: Python, image: base:cpu}
""")
GREEDY = """
import http.server, os, threading, time
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("serving; eating memory in 3 s", flush=True)
time.sleep(3)
hoard = []
while True:
    hoard.append(bytearray(32 * 2**20))
    time.sleep(0.05)
"""
TEMPLATE = {"name": "greedy", "display_name": "Greedy tracker", "registry": True, "health_path": "/",
            "description": "Serves, then eats memory until it is killed (a test's app).",
            "local": {"command": "mkdir -p {data} && cd {data} && exec python3 -c " + shlex.quote(GREEDY)}}


@pytest.fixture(scope="module")
def fit_hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "apps run as their group's service account: the hub must run as root (as in CI)")
    data = Path(tmp_path_factory.mktemp("fithub"))
    (data / "catalog.yaml").write_text(CATALOG)
    config = data / "fit_config.py"
    config.write_text(textwrap.dedent(f"""
        load_subconfig({str(REPO / "jupyterhub_config.py")!r})
        c.Apps.templates = [{TEMPLATE!r}]
        c.Apps.enabled = ["mlflow", "streamlit", "code-server", "greedy"]
        c.Apps.max_restarts = 3
        c.LocalDeployments.check_interval = 0.3
        c.LocalDeployments.backoff_base = 0.5
        c.LocalDeployments.backoff_max = 2
    """))
    hub = RealHub(data, env={"HUBFRONT_CATALOG": str(data / "catalog.yaml")}, config=config)
    hub.start()
    try:
        admin = hub.admin()
        assert admin.api("POST", f"/groups/{GROUP}").status_code == 201
        policy = {"display_name": "Fit Lab", "admins": [LEAD], "default_instance_type": "cpu-tiny",
                  "instance_types": ["cpu-tiny", "cpu-small", "cpu-medium"]}
        assert admin.api("PUT", f"/portal/groups/{GROUP}/policy", json={"policy": policy}).status_code == 200
        hub.add_user(LEAD, PASSWORD, [GROUP])
        hub.login(LEAD, PASSWORD).api("PUT", "/portal/me/context", json={"group": GROUP})
        yield hub
    finally:
        hub.close()


def app_state(session, name: str) -> dict:
    return session.api("GET", f"/portal/groups/{GROUP}/apps/{name}").json()


def wait_for(session, name: str, check, timeout: float, what: str) -> dict:
    """The app's API answer once ``check`` holds for it (the runner gets there in its own time)."""
    def reached():
        app = app_state(session, name)
        return app if check(app) else None

    return until(reached, timeout, f"{name}: {what}", 0.3)


def test_mlflows_install_form_disables_the_type_too_small_for_it(page, fit_hub):
    ui_login(page, fit_hub, LEAD, PASSWORD)
    page.goto(fit_hub.base_url + "/hub/portal/apps")
    card = page.locator('.hf-template[data-template="mlflow"]')
    card.get_by_role("button", name="Install").click()
    form = card.locator("form.hf-install-form")
    expect(form).to_have_class(re.compile(r"\bshow\b"))
    select = form.locator('select[name="instance_type"]')
    expect(select.locator('option[value="cpu-tiny"]')).to_be_disabled()
    expect(select.locator('option[value="cpu-tiny"]')).to_have_text(
        "cpu-tiny (0.25 CPU, 512 MiB) — needs at least 1 GiB of memory and 0.5 CPU")
    expect(select).to_have_value("cpu-small")  # the group's default, cpu-tiny, does not hold it
    expect(form.locator(".hf-app-needs")).to_have_text("MLflow tracking server needs at least 1 GiB of memory and "
                                                        "0.5 CPU; too small for it: cpu-tiny.")
    # a template that fits the group's default keeps it
    expect(page.locator('#hf-install-streamlit select[name="instance_type"]')).to_have_value("cpu-tiny")
    screenshot(page, "apps-fit-install")
    # the list as it drops down (a native pop-up is not in a screenshot: shown as a list box in its place)
    select.evaluate("s => { s.size = s.options.length; }")
    expect(select.locator('option[value="cpu-tiny"]')).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    form.screenshot(path=str(SCREENSHOTS / "apps-fit-install-types.png"))


def test_an_app_out_of_memory_says_so_then_fails_and_the_models_page_names_the_cause(page, fit_hub):
    lead = fit_hub.login(LEAD, PASSWORD)
    api = f"/portal/groups/{GROUP}/apps"
    r = lead.api("POST", api, json={"name": "tracker", "template": "greedy", "instance_type": "cpu-tiny"})
    assert r.status_code == 201, r.text
    assert lead.api("POST", f"{api}/tracker/registry", json={}).json()["bound"]
    ui_login(page, fit_hub, LEAD, PASSWORD)
    # restarted after running out of memory: the card says so, with the count and what to do
    app = wait_for(lead, "tracker", lambda a: a["restarts"] >= 1 and a["phase"] != "Failed", 120, "restart")
    assert app["last_restart_reason"] == "OOMKilled" and app["last_restart_message"] == "Out of memory (limit 512 MiB)"
    page.goto(fit_hub.base_url + "/hub/portal/apps")
    card = page.locator('.hf-app[data-name="tracker"]')
    expect(card.locator(".hf-app-restarts")).to_contain_text("out of memory")
    expect(card.locator(".hf-app-message")).to_contain_text(
        re.compile(r"Out of memory \(limit 512 MiB\): restarted (once|twice) — choose a larger instance type"))
    card.get_by_role("button", name="Log").click()
    expect(card.locator(".hf-app-log")).to_contain_text(
        "[Out of memory (limit 512 MiB): restart 1 in a row, in 0.5 s — choose a larger instance type]")
    screenshot(page, "apps-oom-restarting")
    # the Models page, reading this app as the group's registry, says why it does not answer
    wait_for(lead, "tracker", lambda a: a["phase"] != "Running", 60, "moment it does not answer")
    page.goto(fit_hub.base_url + "/hub/models")
    reason = page.locator("#hf-models-error")
    expect(reason).to_contain_text(re.compile(
        r"The group's MLflow app is not answering \((restarting after running out of memory|failed: it ran out of "
        r"memory[^)]*)\)"))
    expect(reason).not_to_contain_text("Log in to the hub")
    screenshot(page, "models-app-oom")
    # after max_restarts (3 here) it is no longer restarted: Failed, with the reason and a Start button
    app = wait_for(lead, "tracker", lambda a: a["phase"] == "Failed", 180, "Failed")
    assert (app["reason"], app["restarts"]) == ("OOMKilled", 3)
    page.goto(fit_hub.base_url + "/hub/portal/apps")
    expect(card.locator(".hf-app-phase")).to_have_text("Failed")
    expect(card.locator(".hf-app-message")).to_have_text(
        "Out of memory (limit 512 MiB): restarted 3 times — choose a larger instance type. No longer restarted: "
        "change its instance type in Settings, then Start it again.")
    expect(card.get_by_role("button", name="Start")).to_be_visible()
    screenshot(page, "apps-oom-failed")
    lead.api("POST", f"{api}/tracker/stop", json={})
