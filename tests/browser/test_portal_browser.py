"""The portal in Chromium: group dropdown, context kept, quick-launch, over-quota form."""

import re

import pytest
from playwright.sync_api import expect

from support import screenshot, ui_login

pytestmark = pytest.mark.browser


def test_switch_group_and_keep_it_across_reload_and_login(page, portal_hub):
    ui_login(page, portal_hub, "admin", portal_hub.admin_password)
    expect(page.locator("#hf-current-group")).to_have_text("Alpha Lab")
    page.click("#hf-group-button")
    page.get_by_role("button", name=re.compile("Beta Team")).click()
    expect(page.locator("#hf-current-group")).to_have_text("Beta Team")
    page.reload()
    expect(page.locator("#hf-current-group")).to_have_text("Beta Team")
    screenshot(page, "home-beta")
    page.click("#hf-profile-button")
    page.click("#logout")
    ui_login(page, portal_hub, "admin", portal_hub.admin_password)
    expect(page.locator("#hf-current-group")).to_have_text("Beta Team")


def test_user_without_group_sees_no_group_available(page, portal_hub):
    portal_hub.add_user("loner", "Loner-pass1")
    ui_login(page, portal_hub, "loner", "Loner-pass1")
    expect(page.locator("#hf-no-group")).to_contain_text("No group available")
    expect(page.locator("#hf-no-group")).to_contain_text("Please contact administrators.")
    expect(page.locator("#hf-sidemenu a.nav-link")).to_have_count(0)
    screenshot(page, "home-no-group")


def test_over_quota_instance_type_is_disabled_with_reason(page, portal_hub):
    portal_hub.add_user("olga", "Olga-pass1", groups=["alpha"])
    ui_login(page, portal_hub, "olga", "Olga-pass1")
    page.goto(portal_hub.base_url + "/hub/spawn/olga/alpha")
    medium = page.locator("#it-cpu-medium")
    expect(medium).to_be_disabled()
    expect(page.locator(".hf-over-quota")).to_contain_text("CPU: used 0 + requested 2 > limit 1 (group Alpha Lab)")
    expect(page.locator("#it-cpu-small")).to_be_enabled()
    screenshot(page, "spawn-form-over-quota")


def test_quick_launch_opens_a_notebook(page, portal_hub):
    portal_hub.add_user("quinn", "Quinn-pass1", groups=["beta"])
    ui_login(page, portal_hub, "quinn", "Quinn-pass1")
    screenshot(page, "home-quick-launch")
    page.click("button.hf-quick[data-image='pytorch']")
    # the spawn-pending page shows progress, then JupyterLab opens
    page.wait_for_url(re.compile(r".*/user/quinn/beta/lab.*"), timeout=120_000)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=60_000)
    screenshot(page, "quick-launch-lab")
    page.goto(portal_hub.base_url + "/hub/portal/notebooks")
    row = page.locator("tr[data-server='beta']")
    expect(row).to_contain_text("pytorch")
    expect(row).to_contain_text("running")
    screenshot(page, "notebooks")
    row.locator(".hf-stop").click()  # stopping asks first
    confirm = page.locator("#hf-confirm-action")
    expect(confirm).to_contain_text("Stop the notebook server in Beta Team?")
    confirm.locator("#hf-confirm-action-ok").click()
    expect(page.locator("tr[data-server='beta']")).to_contain_text("stopped", timeout=30_000)


def test_the_resource_dashboard_shows_this_machine_as_the_one_resource_group(page, portal_hub):
    """On the embedded default there is one resource group, local: this machine's CPUs, memory and GPUs."""
    import os

    import psutil

    from hub_ext.policy import format_memory

    portal_hub.add_user("rosa", "Rosa-pass1", groups=["alpha"])
    ui_login(page, portal_hub, "rosa", "Rosa-pass1")
    pick = page.locator("#hf-rg-pick")
    expect(pick).to_have_value("local")
    expect(pick.locator("option")).to_have_count(1)
    expect(pick).to_be_disabled()
    expect(page.locator("#hf-rg-nodes")).to_have_text("1")
    table = page.locator("#hf-rg-table")
    expect(table.locator("tr[data-resource='cpu'] .hf-rg-capacity")).to_have_text(str(len(os.sched_getaffinity(0))))
    expect(table.locator("tr[data-resource='memory'] .hf-rg-capacity")).to_have_text(
        format_memory(psutil.virtual_memory().total))
    expect(table.locator("tr[data-resource='gpu'] .hf-rg-capacity")).to_have_text(re.compile(r"^\d+$"))
    screenshot(page, "home-resource-group-local")
