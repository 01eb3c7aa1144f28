"""Launching as a person sees it: a refused launch leaves nothing on Notebooks, a GPU type on a
machine without GPUs is offered disabled with the reason, group admins may look at everyone's activities."""

import pytest
from playwright.sync_api import expect

from hub_ext import activity
from support import screenshot, ui_login

pytestmark = pytest.mark.browser


def test_a_refused_launch_leaves_nothing_on_the_notebooks_page(page, portal_hub):
    portal_hub.add_user("rita", "Rita-pass1", groups=["alpha"])
    rita = portal_hub.login("rita", "Rita-pass1")
    # over the group's 1-core quota, then a server name that is no group of hers
    assert rita.api("POST", "/users/rita/servers/alpha", json={"group": "alpha", "instance_type": "cpu-medium"}
                    ).status_code == 403
    assert rita.api("POST", "/users/rita/servers/foo", json={"group": "foo"}).status_code == 403
    ui_login(page, portal_hub, "rita", "Rita-pass1")
    page.goto(portal_hub.base_url + "/hub/portal/notebooks")
    expect(page.locator("#hf-notebooks")).to_contain_text("No notebook server yet.")
    expect(page.locator("#hf-notebooks tr[data-server]")).to_have_count(0)
    screenshot(page, "notebooks-after-refused-launch")


def test_gpu_type_is_disabled_with_the_reason_on_a_machine_without_gpus(page, portal_hub):
    portal_hub.add_user("gus", "Gus-pass1", groups=["beta"])
    ui_login(page, portal_hub, "gus", "Gus-pass1")
    page.goto(portal_hub.base_url + "/hub/spawn/gus/beta?instance_type=cpu-medium")
    expect(page.locator("#it-gpu-1")).to_be_disabled()
    expect(page.locator(".hf-instance", has=page.locator("#it-gpu-1"))).to_contain_text("No GPU on this machine")
    expect(page.locator("#it-cpu-medium")).to_be_checked()  # what the link pre-filled; nothing started
    screenshot(page, "spawn-form-no-gpu")


def test_group_admin_switches_recent_activities_to_everyone(page, portal_hub):
    portal_hub.add_user("mo", "Mo-pass1", groups=["beta"])
    activity.record(portal_hub.portal_db_url, username="mo", group="beta", kind="job", action="created",
                    message="Mo's training job")
    activity.record(portal_hub.portal_db_url, username="mo", group="beta", kind="job", action="failed",
                    message="Mo's private error", status="error")
    ui_login(page, portal_hub, "admin", portal_hub.admin_password)
    admin = portal_hub.admin()
    admin.api("PUT", "/portal/me/context", json={"group": "beta"})
    page.goto(portal_hub.base_url + "/hub/home")
    recent = page.locator("#hf-recent")
    expect(recent).not_to_contain_text("Mo's training job")
    page.locator("#hf-recent-everyone").check()
    expect(recent).to_contain_text("Mo's training job")
    expect(recent).not_to_contain_text("Mo's private error")
    screenshot(page, "home-admin-recent-everyone")
