"""Manage Users, the profile menu and the side menu in Chromium (issue 9, items 6, 9 and 10)."""

import base64
import re

import pytest
from playwright.sync_api import expect

from support import screenshot, ui_login

pytestmark = pytest.mark.browser


def row(page, name):
    return page.locator(f'#hf-users-table tr[data-user="{name}"]')


def test_manage_users_actions_and_the_temporary_password(browser, page, portal_hub):
    portal_hub.add_user("mara", "Mara-pass1", groups=["alpha"])
    page.on("dialog", lambda dialog: dialog.accept())
    ui_login(page, portal_hub, "admin", portal_hub.admin_password)
    page.goto(portal_hub.base_url + "/hub/portal/admin/users")
    mara = row(page, "mara")
    for label in ("Reset password", "Make admin", "Disable", "Add"):
        expect(mara.get_by_role("button", name=label)).to_be_visible()
    expect(row(page, "admin").get_by_role("button", name="Disable")).to_have_count(0)  # not oneself
    screenshot(page, "manage-users")

    mara.locator(".hf-add-group select").select_option("beta")
    mara.get_by_role("button", name="Add").click()
    expect(page.locator("#hf-notice")).to_have_text("mara: added to beta.")
    expect(row(page, "mara").locator('.hf-group-chip[data-group="beta"]')).to_be_visible()
    row(page, "mara").get_by_role("button", name="Remove mara from alpha").click()
    expect(page.locator("#hf-notice")).to_have_text("mara: removed from alpha.")
    row(page, "mara").get_by_role("button", name="Make admin").click()
    expect(row(page, "mara").locator(".badge", has_text="admin")).to_be_visible()
    row(page, "mara").get_by_role("button", name="Remove admin").click()
    expect(page.locator("#hf-notice")).to_have_text("mara: no longer an administrator.")
    row(page, "mara").get_by_role("button", name="Reset password").click()
    temp = page.inner_text("#hf-reset #hf-temp-password").strip()
    expect(row(page, "mara").locator(".hf-must-change")).to_be_visible()
    screenshot(page, "manage-users-password-reset")

    # mara, with the temporary password: only the change page, whatever she opens
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    mpage = other.new_page()
    mpage.goto(portal_hub.base_url + "/hub/login")
    mpage.fill("#username_input", "mara")
    mpage.fill("#password_input", temp)
    mpage.click("#login_submit")
    mpage.wait_for_url("**/hub/portal/account/password?required=1")
    for path in ("/hub/home", "/hub/token", "/hub/spawn"):
        mpage.goto(portal_hub.base_url + path)
        expect(mpage).to_have_url(re.compile(r"/hub/portal/account/password\?required=1$"))
    screenshot(mpage, "temporary-password-change-page")
    other.close()

    row(page, "mara").get_by_role("button", name="Disable").click()
    expect(row(page, "mara").locator(".hf-disabled")).to_be_visible()
    row(page, "mara").get_by_role("button", name="Enable").click()
    expect(row(page, "mara").locator(".hf-disabled")).to_have_count(0)


def test_profile_menu_opens_on_hover_and_by_keyboard(page, portal_hub):
    ui_login(page, portal_hub, "admin", portal_hub.admin_password)
    menu = page.locator("#hf-profile-menu .dropdown-menu")
    expect(menu).to_be_hidden()
    page.hover("#hf-profile-button")
    expect(menu).to_be_visible()
    expect(page.locator("#hf-profile-button")).to_have_attribute("aria-expanded", "true")
    page.hover("#hf-profile-menu >> text=Change Password")  # across the gap, it stays open
    expect(menu).to_be_visible()
    screenshot(page, "profile-menu-hover")
    page.mouse.move(400, 500)
    expect(menu).to_be_hidden()
    # a click that comes with the hover (as on any mouse) leaves it open
    page.click("#hf-profile-button")
    expect(menu).to_be_visible()
    page.click("#hf-profile-button")
    expect(menu).to_be_hidden()
    page.mouse.move(400, 500)
    # keyboard: focus, Enter opens, arrows move through the entries, Escape closes
    page.focus("#hf-profile-button")
    page.keyboard.press("Enter")
    expect(menu).to_be_visible()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#hf-profile-menu a.dropdown-item").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()


def pixel(page, png: bytes, x: int, y: int) -> list:
    """The RGB of one pixel of a screenshot, decoded by the browser itself (no imaging library)."""
    return page.evaluate("""async ([src, x, y]) => {
        const img = new Image(); img.src = src; await img.decode();
        const c = document.createElement("canvas"); c.width = img.width; c.height = img.height;
        const ctx = c.getContext("2d"); ctx.drawImage(img, 0, 0);
        return Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
    }""", ["data:image/png;base64," + base64.b64encode(png).decode(), x, y])


def test_side_menu_keeps_entries_on_one_line_and_runs_the_full_page(page, portal_hub):
    ui_login(page, portal_hub, "admin", portal_hub.admin_password)
    page.goto(portal_hub.base_url + "/hub/portal/docs/user-guide")  # longer than the window
    links = page.locator("#hf-sidemenu a.nav-link")
    heights = {links.nth(i).inner_text().strip(): links.nth(i).bounding_box()["height"] for i in range(links.count())}
    assert "System Resources" in heights
    assert max(heights.values()) < 1.5 * min(heights.values()), heights  # no entry wraps
    full_height = page.evaluate("document.documentElement.scrollHeight")
    assert full_height > page.viewport_size["height"] + 100
    png = screenshot(page, "side-menu-long-page").read_bytes()
    top, bottom = pixel(page, png, 8, 70), pixel(page, png, 8, full_height - 4)
    assert bottom == top, (top, bottom)  # the menu's background, down to the end of the page
