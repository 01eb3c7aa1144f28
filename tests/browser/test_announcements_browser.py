"""In Chromium: an admin publishes an announcement, a member sees its banner and dismisses it;
an expired license shows its banner on home; the other pages of this feature render."""

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from hub_ext import activity
from hub_ext import license as lic
from hub_ext.store.models import utcnow
from support import RealHub, need, proxy_command, screenshot, ui_login

pytestmark = pytest.mark.browser

PEM, PUBLIC = lic.keygen()
TITLE = "Cluster maintenance on Sunday"
EXPIRED = "Your license has expired. Please contact your sales team to extend your license."


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    hub = RealHub(Path(tmp_path_factory.mktemp("announcehub")), env={"HUBFRONT_LICENSE_PUBLIC_KEYS": PUBLIC})
    hub.start()
    yield hub
    hub.close()


def new_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    return pg


def test_admin_publishes_member_sees_banner_and_dismisses_it(browser, hub):
    hub.add_user("mona", "Mona-pass1", groups=["crew"])
    admin = new_page(browser)
    ui_login(admin, hub, "admin", hub.admin_password)
    admin.goto(hub.base_url + "/hub/portal/announcements")
    form = admin.locator("#hf-new-announcement")
    form.locator("#hf-new-title").fill(TITLE)
    form.locator("#hf-new-body").fill(
        "**Save your work.** The hub restarts at 06:00.\n\n"
        "<script>window.pwned = 1</script> <img src=x onerror=\"window.pwned = 2\"> [x](javascript:window.pwned=3)")
    form.locator("#hf-new-severity").select_option("warning")
    form.locator("#hf-new-groups").check()
    form.locator("select[name=groups]").select_option(["crew"])
    form.locator("#hf-new-published").check()
    admin.click("#hf-create-announcement")
    card = admin.locator(".hf-announcement", has_text=TITLE)
    expect(card.locator(".hf-state")).to_have_text("published")
    screenshot(admin, "announcements-admin")
    admin.context.close()

    member = new_page(browser)
    errors = []
    member.on("pageerror", lambda exc: errors.append(str(exc)))
    ui_login(member, hub, "mona", "Mona-pass1")
    # home shows it once, in the announcements panel; other pages show it as a banner
    expect(member.locator("#hf-announcements-panel")).to_contain_text(TITLE)
    expect(member.locator("#hf-banners .hf-banner", has_text=TITLE)).to_have_count(0)
    member.goto(hub.base_url + "/hub/portal/notebooks")
    banner = member.locator("#hf-banners .hf-banner", has_text=TITLE)
    expect(banner).to_be_visible()
    expect(banner.locator("strong")).to_have_text("Save your work.")
    expect(banner).to_contain_text("<script>window.pwned = 1</script>")  # shown as text
    assert member.locator("#hf-banners a[href^='javascript']").count() == 0
    assert member.evaluate("window.pwned") is None
    screenshot(member, "announcement-banner-member")
    banner.locator(".hf-dismiss").click()
    expect(banner).to_have_count(0)
    member.reload()
    expect(member.locator("#hf-banners .hf-banner", has_text=TITLE)).to_have_count(0)
    # dismissed is dismissed on home too (its panel is home's banner); the Announcements page keeps it
    member.goto(hub.base_url + "/hub/portal/announcements")
    expect(member.locator("main, body").first).to_contain_text(TITLE)
    member.goto(hub.base_url + "/hub/home")
    expect(member.locator("#hf-recent")).to_be_visible()
    expect(member.locator("#hf-announcements-panel")).to_have_count(0)
    assert member.evaluate("window.pwned") is None and errors == []
    screenshot(member, "announcement-dismissed-home")
    # the Recent panel refreshes itself: a new event shows up without a reload
    activity.record(hub.portal_db_url, username="mona", group="crew", kind="job", action="failed",
                    status="error", message="Job nightly-train failed")
    expect(member.locator("#hf-recent .hf-activity").first).to_contain_text("Job nightly-train failed",
                                                                           timeout=20_000)
    expect(member.locator("#hf-recent .hf-activity").first.locator(".hf-live")).to_have_text("error")
    member.context.close()


def test_expired_license_shows_its_banner_on_home(browser, hub):
    now = utcnow()
    token = lic.issue(PEM, lic.LicenseTerms("Acme Corp", now - timedelta(days=400), now - timedelta(days=35), 3, 5))
    admin = new_page(browser)
    ui_login(admin, hub, "admin", hub.admin_password)
    admin.goto(hub.base_url + "/hub/portal/license")
    expect(admin.locator("#hf-license-status")).to_have_text("no license")
    admin.fill("#hf-license-token", token)
    admin.get_by_role("button", name="Install").click()
    expect(admin.locator("#hf-license-status")).to_have_text("expired")
    screenshot(admin, "license-expired")
    admin.goto(hub.base_url + "/hub/home")
    banner = admin.locator("#hf-banners .hf-banner", has_text=EXPIRED)
    expect(banner).to_be_visible()
    expect(banner.locator(".hf-dismiss")).to_have_count(0)  # a license banner stays
    screenshot(admin, "home-license-expired")
    admin.context.close()


def test_system_logs_about_and_preferences_pages_render(browser, hub):
    activity.record(hub.portal_db_url, username="admin", group="research", kind="job", action="failed",
                    status="error", message="Job train-resnet failed: exit code 1")
    admin = new_page(browser)
    errors = []
    admin.on("pageerror", lambda exc: errors.append(str(exc)))
    ui_login(admin, hub, "admin", hub.admin_password)
    admin.click("#hf-sidemenu a:has-text('System Resources')")
    expect(admin.locator("[data-field=nodes]")).to_have_text("1")
    expect(admin.locator(".hf-refreshed")).not_to_be_empty(timeout=15_000)  # it refreshed itself
    screenshot(admin, "system-resources-admin")
    admin.click("#hf-sidemenu a:has-text('Preferences')")
    admin.select_option("#hf-timezone", "Asia/Tokyo")
    admin.click("#hf-prefs-form button[type=submit]")
    expect(admin.locator("#hf-prefs-saved")).to_be_visible()
    screenshot(admin, "preferences")
    admin.click("#hf-sidemenu a:has-text('Logs / Errors')")
    expect(admin.locator("#hf-logs")).to_contain_text("Job train-resnet failed")
    expect(admin.locator("#hf-logs")).to_contain_text("JST")
    screenshot(admin, "logs")
    admin.click("#hf-sidemenu a:has-text('About')")
    expect(admin.locator("#hf-about-license")).to_contain_text("Free tier")
    screenshot(admin, "about")
    assert errors == []
    admin.context.close()
