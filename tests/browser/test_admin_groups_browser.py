"""Issue 24's first acceptance line in Chromium: a hub admin who belongs to no group sets up a group in the
Groups console (create, quotas, allowed instance types and images, default instance type, a member and a
group admin); the member's launch form offers exactly that; the admin's working group did not change."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from support import screenshot, ui_login

pytestmark = pytest.mark.browser

PW = "Console-pass1"


def _fill_quota(page, values: dict[str, str]) -> None:
    for name, value in values.items():
        page.fill(f'#hf-policy-console input[name="{name}"]', value)


def test_an_admin_in_no_group_sets_up_a_group_and_its_member_launches_within_it(page, browser, portal_hub):
    for name in ("gc-root", "gc-member", "gc-lead"):
        portal_hub.add_user(name, PW)  # in no group
    assert portal_hub.admin().api("PATCH", "/users/gc-root", json={"admin": True}).status_code == 200
    ui_login(page, portal_hub, "gc-root", PW)
    expect(page.locator("#hf-group-dropdown")).to_contain_text("none")

    # the console, from the profile menu
    page.click("#hf-profile-button")
    page.click("#hf-groups-link")
    page.wait_for_url("**/hub/portal/admin/groups")
    expect(page.locator('#hf-groups-table tr[data-group="alpha"]')).to_contain_text("Alpha Lab")  # not a member
    page.fill("#hf-group-name", "acc-vision")
    page.fill("#hf-group-display", "Accepted Vision")
    page.click("#hf-group-create-submit")
    page.wait_for_url("**/hub/portal/admin/groups/acc-vision")
    expect(page.locator("#hf-group-title")).to_have_text("Accepted Vision")

    # the whole policy in one form: a bad value is named at its field first
    form = page.locator("#hf-policy-console")
    _fill_quota(page, {"quota.cpu": "4", "quota.memory": "lots", "quota.gpu": "0", "quota.sessions": "4",
                       "quota.storage": "20Gi", "user_quota.cpu": "2", "user_quota.memory": "4Gi",
                       "user_quota.sessions": "1"})
    page.uncheck("#hf-p-instance_types-all")
    page.uncheck("#hf-p-instance_types-gpu-1")
    page.uncheck("#hf-p-images-all")
    page.uncheck("#hf-p-images-tensorflow")
    page.select_option("#hf-p-default_instance_type", "cpu-medium")
    page.fill("#hf-p-idle_timeout", "soon")  # the notebooks' lifecycle (issue 25)
    page.fill("#hf-p-max_age", "never")
    page.click("#hf-policy-save")
    expect(form.locator('[data-error="idle_timeout"]')).to_contain_text("Idle timeout: invalid duration 'soon'")
    expect(page.locator('#hf-policy-console input[name="quota.memory"]')).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(form.locator('[data-error="quota.memory"]')).to_contain_text("invalid memory quantity 'lots'")
    expect(page.locator("#hf-policy-saved")).to_be_hidden()
    screenshot(page, "admin-group-form-error")
    _fill_quota(page, {"quota.memory": "16Gi"})
    page.fill("#hf-p-idle_timeout", "2h")
    page.click("#hf-policy-save")
    expect(page.locator("#hf-policy-saved")).to_be_visible()
    expect(form.locator(".is-invalid")).to_have_count(0)

    # a member and a group admin, by name (completed from the hub's users)
    expect(page.locator("#hf-user-names option[value=gc-member]")).to_have_count(1)
    page.fill("#hf-member-user", "gc-member")
    page.click("#hf-member-add-submit")
    expect(page.locator("#hf-members tr[data-user=gc-member] .hf-role")).to_have_text("member")
    page.fill("#hf-member-user", "gc-lead")
    page.check("#hf-member-admin")
    page.click("#hf-member-add-submit")
    expect(page.locator("#hf-members tr[data-user=gc-lead] .hf-role")).to_have_text("group admin")
    # what was saved is what the page shows after the reloads
    expect(page.locator('#hf-policy-console input[name="quota.memory"]')).to_have_value("16Gi")
    expect(page.locator("#hf-p-instance_types-cpu-small")).to_be_checked()
    expect(page.locator("#hf-p-instance_types-gpu-1")).not_to_be_checked()
    expect(page.locator("#hf-p-default_instance_type")).to_have_value("cpu-medium")
    expect(page.locator("#hf-p-idle_timeout")).to_have_value("2h")
    expect(page.locator("#hf-p-max_age")).to_have_value("never")
    expect(page.locator("#hf-p-warn_before")).to_have_value("")  # the platform's default
    screenshot(page, "admin-group-form")

    page.click("nav[aria-label=breadcrumb] a")
    page.wait_for_url("**/hub/portal/admin/groups")
    row = page.locator('#hf-groups-table tr[data-group="acc-vision"]')
    expect(row.locator(".hf-member-count")).to_contain_text("2")
    expect(row.locator(".hf-summary")).to_contain_text("Instance types: CPU small, CPU medium")
    expect(row.locator(".hf-summary")).to_contain_text("Images: Python, PyTorch")
    expect(row.locator(".hf-summary")).to_contain_text("Default: CPU medium")
    expect(row.locator(".hf-usage")).to_contain_text("CPU 0 / 4")
    screenshot(page, "admin-groups")

    # the admin's working group did not change: still none
    page.goto(portal_hub.base_url + "/hub/home")
    expect(page.locator("#hf-group-dropdown")).to_contain_text("none")
    assert portal_hub.login("gc-root", PW).api("GET", "/portal/me/context").json()["group"] is None

    # the member's launch form offers exactly what the group allows, the default chosen
    member = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        ui_login(member, portal_hub, "gc-member", PW)
        expect(member.locator("#hf-current-group")).to_have_text("Accepted Vision")
        member.goto(portal_hub.base_url + "/hub/spawn/gc-member/acc-vision")
        types = member.locator('input[name="instance_type"]')
        expect(types).to_have_count(2)
        assert sorted(types.evaluate_all("els => els.map(e => e.value)")) == ["cpu-medium", "cpu-small"]
        expect(member.locator('input[name="instance_type"][value="cpu-medium"]')).to_be_checked()
        images = member.locator('select[name="image"] option')
        assert sorted(images.evaluate_all("els => els.map(e => e.value)")) == ["base", "pytorch"]
        screenshot(member, "admin-group-member-launch-form")
    finally:
        member.context.close()

    # the group admin reaches the same form from Settings, the reserved fields read-only
    lead = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        ui_login(lead, portal_hub, "gc-lead", PW)
        lead.goto(portal_hub.base_url + "/hub/portal/group-settings")
        expect(lead.locator("#hf-open-console")).to_have_text("Edit this group's policy in the Groups console")
        expect(lead.locator("#hf-settings-yours")).to_contain_text("default job timeout and MLflow tracking URI")
        expect(lead.locator("main form, .hf-main form")).to_have_count(0)  # no policy form of its own
        screenshot(lead, "group-settings-leads-to-console")
        lead.click("#hf-open-console")
        lead.wait_for_url("**/hub/portal/admin/groups/acc-vision")
        expect(lead.locator('#hf-policy-console input[name="quota.cpu"]')).to_be_disabled()
        expect(lead.locator("#hf-p-instance_types-cpu-small")).to_be_disabled()
        expect(lead.locator("#hf-member-add")).to_have_count(0)
        lead.fill("#hf-p-job_default_timeout", "3h")
        lead.click("#hf-policy-save")
        expect(lead.locator("#hf-policy-saved")).to_be_visible()
        screenshot(lead, "admin-group-form-group-admin")
    finally:
        lead.context.close()
    policy = portal_hub.admin().api("GET", "/portal/groups/acc-vision/policy").json()["policy"]
    assert policy["job_default_timeout"] == 3 * 3600 and policy["quota"]["cpu"] == 4
    assert (policy["idle_timeout"], policy["max_age"], policy["warn_before"]) == (7200, 0, None)
