"""Rough edges a new user hit (issue 24), in Chromium on a real hub: a member's System Resources (what they
hold against their quota, each session's live CPU and memory from its cgroup), Logs / Errors (events named
once, only the running run marked running, groups by display name), the home's announcement dismissed
there, the invitation page naming the group as people know it, and the forced password change ending with
a way on to Home."""

import re

import pytest
from playwright.sync_api import expect

from hub_ext import activity
from hub_ext.auth import account_state
from support import screenshot, ui_login, wait_for_server, wait_for_stopped

pytestmark = pytest.mark.browser


def test_a_members_system_resources_and_logs_after_two_runs(page, portal_hub):
    portal_hub.add_user("sara", "Sara-pass1", groups=["beta"])
    sara = portal_hub.login("sara", "Sara-pass1")
    launch = {"group": "beta", "instance_type": "cpu-small", "image": "base"}
    for run in range(2):  # a notebook that ran, stopped, and runs again
        assert sara.api("POST", "/users/sara/servers/beta", json=launch).status_code in (201, 202)
        wait_for_server(sara, "sara", "beta", hub=portal_hub)
        if run == 0:
            assert sara.api("DELETE", "/users/sara/servers/beta").status_code in (202, 204)
            wait_for_stopped(sara, "sara", "beta")
    activity.record(portal_hub.portal_db_url, username="sara", group="beta", kind="share", action="share-revoked",
                    message="Share link to /notes.txt revoked by sara")
    try:
        ui_login(page, portal_hub, "sara", "Sara-pass1")
        page.goto(portal_hub.base_url + "/hub/portal/system")
        session = page.locator("#hf-my-sessions tr.hf-session")
        expect(session).to_have_count(1)
        expect(session).to_contain_text("Notebook in Beta Team")
        expect(session).to_contain_text("0.5 CPU · 1 GiB")
        expect(session.locator(".hf-session-memory")).to_contain_text(re.compile(r"\d+(\.\d+)? MiB of 1 GiB"))
        expect(session.locator(".hf-session-cpu")).to_contain_text(re.compile(r"\d\.\d\d of 0\.5 cores"))
        beta = page.locator('.hf-allocation[data-group="beta"]')
        expect(beta.locator(".card-header")).to_have_text("Beta Team")
        expect(beta.locator('tr[data-resource="cpu"]')).to_contain_text("0.5 of unlimited")
        expect(page.locator("#hf-system .hf-refreshed")).to_contain_text(" · updated ", timeout=15_000)
        screenshot(page, "system-resources-member")

        page.goto(portal_hub.base_url + "/hub/portal/logs")
        rows = page.locator("#hf-logs tr.hf-log")
        started = rows.filter(has_text="Notebook started")
        expect(started).to_have_count(2)
        expect(started.nth(0).locator(".hf-log-status")).to_have_text("running")  # the run that holds it now
        expect(started.nth(1).locator(".hf-log-status")).to_have_text("ok")
        stopped = rows.filter(has=page.locator(".hf-log-event", has_text="Notebook stopped"))
        expect(stopped.locator(".hf-log-status")).to_have_text("info")
        expect(rows.filter(has_text="revoked by sara").locator(".hf-log-event")).to_have_text("Share revoked")
        expect(rows.first.locator(".hf-log-group")).to_have_text("Beta Team")
        screenshot(page, "logs-events")
    finally:
        assert sara.api("DELETE", "/users/sara/servers/beta").status_code in (202, 204)
        wait_for_stopped(sara, "sara", "beta")


def test_the_homes_announcement_can_be_dismissed_there(page, portal_hub):
    portal_hub.add_user("dina", "Dina-pass1", groups=["alpha"])
    admin = portal_hub.admin()
    r = admin.api("POST", "/portal/announcements", json={"title": "Cluster upgrade on Friday", "severity": "warning",
                                                          "body": "Save your work by *Thursday*.", "published": True,
                                                          "audience": ["alpha"]})
    assert r.status_code == 201, r.text
    ui_login(page, portal_hub, "dina", "Dina-pass1")
    panel = page.locator("#hf-announcements-panel")
    expect(panel).to_contain_text("Cluster upgrade on Friday")
    screenshot(page, "home-announcement-dismissable")
    panel.locator(".hf-dismiss").click()
    expect(panel).to_have_count(0)
    page.reload()
    expect(page.locator("#hf-recent")).to_be_visible()
    expect(page.locator("#hf-announcements-panel")).to_have_count(0)
    page.goto(portal_hub.base_url + "/hub/portal/notebooks")
    expect(page.locator("#hf-banners .hf-banner", has_text="Cluster upgrade")).to_have_count(0)  # gone as a banner


def test_the_invitation_page_names_the_group_by_its_display_name(page, portal_hub):
    portal_hub.add_user("otto", "Otto-pass1", groups=["beta"])
    admin = portal_hub.admin()
    r = admin.post(admin.url("/hub/portal/invitations"),
                   data={"group": "alpha", "expires_days": "7", "max_uses": "1", "_xsrf": admin.xsrf})
    assert r.status_code == 200 and "Invite Users to Alpha Lab" in r.text
    link = re.search(r'id="hf-invite-link" value="([^"]+)"', r.text).group(1)
    ui_login(page, portal_hub, "otto", "Otto-pass1")
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Join group Alpha Lab")
    expect(page.locator("#hf-join")).to_have_text("Join Alpha Lab")
    screenshot(page, "invitation-join-display-name")
    page.click("#hf-join")
    page.wait_for_url("**/hub/home")


def test_the_forced_password_change_ends_with_a_way_on_to_home(page, portal_hub):
    portal_hub.add_user("tess", "Temp-pass-77", groups=["alpha"])
    account_state.set_must_change_password(portal_hub.portal_db_url, "tess", True)
    page.goto(portal_hub.base_url + "/hub/login")
    page.fill("#username_input", "tess")
    page.fill("#password_input", "Temp-pass-77")
    page.click("#login_submit")
    page.wait_for_url("**/hub/portal/account/password?required=1")
    expect(page.locator("#hf-password-required")).to_be_visible()
    page.fill("#hf-current", "Temp-pass-77")
    page.fill("#hf-new", "Own-choice-88")
    page.fill("#hf-confirm", "Own-choice-88")
    page.click("#hf-change-password")
    page.wait_for_url("**/hub/portal/account/password?changed=1")
    expect(page.locator("#hf-password-changed")).to_contain_text("Password changed.")
    expect(page.locator("#hf-change-password")).to_have_count(0)  # no emptied form to wonder about
    screenshot(page, "password-changed-continue")
    page.click("#hf-password-continue")
    page.wait_for_url("**/hub/home")
    expect(page.locator("#hf-current-group")).to_have_attribute("data-group", "alpha")
