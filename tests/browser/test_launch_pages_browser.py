"""The launch page and the spawn-pending page in Chromium, on a hub whose "Tiny" image builds its
environment on the first launch (a local wheel, offline): the launch page is the portal's form with the
remaining quota; the pending page walks through its phases with a moving bar, pip's output folded under
Details; then JupyterLab opens, and stopping it from Notebooks asks first."""

import re
import textwrap
from pathlib import Path

import pytest
from playwright.sync_api import expect

from support import REPO, RealHub, build_tiny_wheel, need, proxy_command, screenshot, ui_login

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def launch_hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    data = Path(tmp_path_factory.mktemp("launchhub"))
    wheel = build_tiny_wheel(data / "wheel")
    catalog = data / "catalog.yaml"
    catalog.write_text(textwrap.dedent(f"""
        catalog:
          instance_types:
            - {{name: cpu-small, display_name: CPU small, cpu: 500m, memory: 1Gi}}
            - {{name: cpu-medium, display_name: CPU medium, cpu: 2, memory: 4Gi}}
          images:
            - {{name: base, display_name: Python, image: base:cpu, quick_launch: tensorflow}}
            - name: tiny
              display_name: Tiny
              description: built on its first launch
              image: tiny:cpu
              quick_launch: pytorch
              local: {{packages: [{str(wheel)!r}]}}
        groups:
          lab:
            members: [admin]
            policy: {{display_name: Launch Lab, user_quota: {{cpu: 1, sessions: 2}}, default_instance_type: cpu-small}}
    """))
    config = data / "launch_config.py"
    config.write_text(textwrap.dedent(f"""
        load_subconfig({str(REPO / "jupyterhub_config.py")!r})
        c.LocalGroupSpawner.pip_args = ["--no-index", "--disable-pip-version-check"]
    """))
    hub = RealHub(data, env={"HUBFRONT_CATALOG": str(catalog)}, config=config)
    hub.start()
    yield hub
    hub.close()


def test_the_launch_page_is_the_portals_form_with_the_remaining_quota(page, launch_hub):
    launch_hub.add_user("lena", "Lena-pass1", groups=["lab"])
    ui_login(page, launch_hub, "lena", "Lena-pass1")
    page.goto(launch_hub.base_url + "/hub/spawn/lena/lab")
    expect(page.locator("h1")).to_have_text("Start a notebook")
    expect(page.locator("#hf-sidemenu")).to_be_visible()
    expect(page.get_by_text("Server Options")).to_have_count(0)
    form = page.locator("#spawn_form")
    expect(form).to_contain_text("Launching in group Launch Lab.")
    expect(form.locator('#hf-start-remaining [data-resource="cpu"]')).to_contain_text("1")
    expect(form.locator('#hf-start-remaining [data-resource="sessions"]')).to_contain_text("2")
    expect(form.locator("#it-cpu-medium")).to_be_disabled()
    launch = page.locator("#hf-spawn-launch")
    expect(launch).to_have_class(re.compile(r"\bbtn-primary\b"))
    screenshot(page, "spawn-page")


def test_a_first_launch_shows_its_phases_and_folds_pips_output(page, launch_hub):
    launch_hub.add_user("milo", "Milo-pass1", groups=["lab"])
    ui_login(page, launch_hub, "milo", "Milo-pass1")
    page.goto(launch_hub.base_url + "/hub/spawn/milo/lab")
    page.locator("#hf-image").select_option("tiny")
    page.click("#hf-spawn-launch")
    page.wait_for_url(re.compile(r".*/hub/spawn-pending/milo/lab"))
    prepare = page.locator('.hf-phase[data-phase="prepare"]')
    # the build of a local wheel takes about a second, so its steps are asserted once they are over
    # (the page replays every event of the launch): never by catching the page while it builds
    expect(page.locator('.hf-phase[data-phase="start"]')).to_have_attribute("data-state", "active", timeout=120_000)
    expect(prepare).to_have_attribute("data-state", "done")
    assert int(page.locator("#hf-progress").get_attribute("aria-valuenow")) >= 60
    expect(page.locator("#progress-details")).not_to_have_attribute("open", "")
    expect(page.locator("#progress-log")).to_be_hidden()  # folded under Details
    screenshot(page, "spawn-pending-building")
    page.locator("#progress-details summary").click()
    log = page.locator("#progress-log")
    # the build's own steps are the headlines, pip's output only the folded detail under them
    expect(log.locator("strong").filter(has_text=re.compile(r"^(Creating the environment|Getting packages)"))
           ).not_to_have_count(0)
    expect(log).to_contain_text("Successfully installed hftiny-0.1")
    expect(log.locator("strong").filter(has_text="Successfully installed")).to_have_count(0)
    expect(page.locator("#progress-message")).not_to_contain_text("Successfully installed")
    screenshot(page, "spawn-pending-details")
    page.wait_for_url(re.compile(r".*/user/milo/lab/lab.*"), timeout=120_000)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=60_000)

    # home's quick-launch says once that the notebook runs, not once per button
    page.goto(launch_hub.base_url + "/hub/home")
    quick = page.locator("#hf-quicklaunch")
    expect(quick).to_contain_text("Your notebook in this group is running.")
    expect(quick.locator("button.hf-quick[disabled]")).to_have_count(2)
    expect(quick.locator(".hf-quick-reason")).to_have_count(0)
    expect(quick).not_to_contain_text("Starts a notebook")
    screenshot(page, "home-quick-launch-running")

    page.goto(launch_hub.base_url + "/hub/portal/notebooks")
    row = page.locator("tr[data-server='lab']")
    expect(row).to_contain_text("Launch Lab")  # the group's display name
    expect(row).to_contain_text("running")
    screenshot(page, "notebooks-group-display-name")
    row.locator(".hf-stop").click()  # stopping asks first, as revoking a link does
    confirm = page.locator("#hf-confirm-action")
    expect(confirm).to_contain_text("Stop the notebook server in Launch Lab?")
    confirm.locator("#hf-confirm-action-cancel").click()
    expect(confirm).to_be_hidden()
    expect(row).to_contain_text("running")
    row.locator(".hf-stop").click()
    expect(confirm).not_to_have_attribute("data-hf-showing", "1")  # fully shown
    screenshot(page, "notebooks-stop-confirm")
    confirm.locator("#hf-confirm-action-ok").click()
    expect(page.locator("tr[data-server='lab']")).to_contain_text("stopped", timeout=30_000)
