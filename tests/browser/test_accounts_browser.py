"""Accounts in a real browser: 2FA enrollment and two-step login, password change, invitation sign-up."""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import expect

from support import screenshot
from support_throttle import sign_in as sign_in_by_script
from support_throttle import slow_hub as throttled_hub

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PW = "Start-pass1"


def sign_in(page, hub, username, password):
    page.goto(hub.base_url + "/hub/login")
    page.fill("#username_input", username)
    page.fill("#password_input", password)
    page.click("#login_submit")


def open_profile_menu(page, entry):
    page.click("#hf-profile-button")
    page.click(f"#hf-profile-menu >> text={entry}")


def test_enroll_2fa_then_log_in_with_password_and_code_then_change_password(page, real_hub):
    real_hub.add_user("brw-ann", PW, groups=["brw-g"])
    sign_in(page, real_hub, "brw-ann", PW)
    page.wait_for_url("**/hub/home")

    open_profile_menu(page, "User Profile")
    page.wait_for_url("**/hub/portal/account")
    assert page.inner_text("#hf-2fa-status") == "Off"
    page.click("text=Manage two-factor authentication")
    page.click("#hf-2fa-begin")
    page.wait_for_selector("#hf-2fa-key")
    key = page.inner_text("#hf-2fa-key").strip()
    assert len(key) == 32 and page.locator("#hf-2fa-qr svg").count() == 1
    screenshot(page, "accounts-2fa-enroll")
    page.fill("#hf-2fa-code", pyotp.TOTP(key).now())
    page.click("#hf-2fa-confirm")
    page.wait_for_selector("#hf-recovery-codes")
    assert page.locator("#hf-recovery-codes li").count() == 10
    screenshot(page, "accounts-2fa-recovery-codes")

    open_profile_menu(page, "Logout")
    page.wait_for_url("**/hub/login**")
    sign_in(page, real_hub, "brw-ann", PW)
    page.wait_for_selector("#otp_input")
    assert page.locator("#password_input").count() == 0
    screenshot(page, "accounts-login-code-step")
    # the enrollment used the current time step; the next one is still accepted (±1)
    page.fill("#otp_input", pyotp.TOTP(key).at(time.time() + 30))
    page.click("#login_submit")
    page.wait_for_url("**/hub/home")

    open_profile_menu(page, "Change Password")
    page.wait_for_url("**/hub/portal/account/password")
    page.fill("#hf-current", PW)
    page.fill("#hf-new", "abc")
    assert page.get_attribute('li[data-rule="length"]', "data-ok") == "0"
    assert page.get_attribute('li[data-rule="number"]', "data-ok") == "0"
    page.fill("#hf-new", "Better-pass2")
    for rule in ("length", "letter", "number", "symbol", "max", "username", "current"):
        assert page.get_attribute(f'li[data-rule="{rule}"]', "data-ok") == "1", rule
    page.fill("#hf-confirm", "Better-pass2")
    screenshot(page, "accounts-change-password")
    page.click("#hf-change-password")
    page.wait_for_selector("#hf-password-changed")
    screenshot(page, "accounts-password-changed")
    # this session survives the change
    page.goto(real_hub.base_url + "/hub/home")
    assert page.url.endswith("/hub/home")
    open_profile_menu(page, "User Profile")
    page.wait_for_url("**/hub/portal/account")
    assert page.inner_text("#hf-2fa-status") == "On"
    screenshot(page, "accounts-my-account")
    open_profile_menu(page, "API Token")
    page.wait_for_selector("#hf-token-usage")
    assert real_hub.base_url + "/hub/api/portal/me" in page.inner_text("#hf-token-usage")
    screenshot(page, "accounts-api-token")


def test_invitation_sign_up(page, real_hub, browser):
    admin = real_hub.admin()
    for group in ("brw-team",):
        admin.api("POST", f"/groups/{group}")
        admin.api("POST", f"/groups/{group}/users", json={"users": ["admin"]}).raise_for_status()
    sign_in(page, real_hub, "admin", real_hub.admin_password)
    page.wait_for_url("**/hub/**")
    page.goto(real_hub.base_url + "/hub/home")
    # joining brw-team did not put it in focus (issue 24): the admin switches to it to invite people there
    page.click("#hf-group-button")
    page.click('#hf-group-menu button[value="brw-team"]')
    expect(page.locator("#hf-current-group")).to_have_attribute("data-group", "brw-team")
    page.fill("#hf-invite-uses", "3")
    screenshot(page, "accounts-invite-panel")
    page.click("#hf-invite-create")
    page.wait_for_selector("#hf-invite-link")
    link = page.input_value("#hf-invite-link")
    assert "/hub/invite/" in link
    screenshot(page, "accounts-invitation-created")
    open_profile_menu(page, "Manage Users")
    page.wait_for_selector("#hf-users-table")
    screenshot(page, "accounts-users-admin")

    stranger = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        stranger.goto(link)
        stranger.fill("#hf-signup-username", "brw-newcomer")
        stranger.fill("#hf-new", "brw-newcomer")
        assert stranger.get_attribute('li[data-rule="username"]', "data-ok") == "0"
        stranger.fill("#hf-new", "Welcome-pass3")
        stranger.fill("#hf-confirm", "Welcome-pass3")
        screenshot(stranger, "accounts-invitation-signup")
        stranger.click("#hf-signup-submit")
        stranger.wait_for_url("**/hub/home")
        assert stranger.get_attribute("#hf-current-group", "data-group") == "brw-team"
        screenshot(stranger, "accounts-invitation-joined")
    finally:
        stranger.context.close()


@pytest.fixture(scope="module")
def slow_hub(tmp_path_factory):
    """The first wait after failed sign-ins is 2 minutes: it outlasts the test's steps."""
    with throttled_hub(tmp_path_factory, 120) as hub:
        yield hub


def test_throttled_login_says_when_and_the_admin_clears_it(page, slow_hub, browser):
    slow_hub.add_user("brw-eve", PW)
    for _ in range(6):  # five free failures, then a wait of 2 minutes
        assert sign_in_by_script(slow_hub, "brw-eve", "wrong-Pass1").status_code == 403
    sign_in(page, slow_hub, "brw-eve", PW)  # the right password, inside the wait
    page.wait_for_selector(".login_error")
    message = page.inner_text(".login_error")
    assert message == "Too many failed sign-in attempts. Try again in 2 minutes.", message
    assert "/hub/login" in page.url
    screenshot(page, "accounts-login-throttled")

    admin = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        sign_in(admin, slow_hub, "admin", slow_hub.admin_password)
        admin.wait_for_url("**/hub/**")
        admin.goto(slow_hub.base_url + "/hub/portal/admin/users")
        row = admin.locator('tr[data-user="brw-eve"]')
        assert row.locator(".hf-failed-signins").inner_text() == "6 failed sign-ins"
        assert "sign-ins wait until" in row.locator(".hf-slowed").inner_text()
        assert admin.locator(".hf-locked").count() == 0
        screenshot(admin, "accounts-users-failed-signins")
        row.locator("button[value=unlock]").click()
        admin.wait_for_selector("#hf-notice")
        assert "failed sign-ins cleared" in admin.inner_text("#hf-notice")
        assert admin.locator('tr[data-user="brw-eve"] .hf-failed-signins').count() == 0
    finally:
        admin.context.close()
    sign_in(page, slow_hub, "brw-eve", PW)
    page.wait_for_url("**/hub/home")
