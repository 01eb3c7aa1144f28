"""My Folders, the home's Invitations panel and the Start menu, as people use them in Chromium."""

import pytest
from playwright.sync_api import expect

from support import screenshot, ui_login

pytestmark = pytest.mark.browser


def test_invite_accept_from_home_and_see_it_shared(page, portal_hub):
    portal_hub.add_user("flo", "Flo-pass1", groups=["alpha"])
    portal_hub.add_user("gil", "Gil-pass1", groups=["beta"])
    ui_login(page, portal_hub, "flo", "Flo-pass1")
    page.goto(portal_hub.base_url + "/hub/portal/folders")
    page.fill("#hf-folder-create input[name=name]", "bad name!")
    page.click("#hf-folder-create-button")
    expect(page.locator('[data-error-for="name"]')).to_contain_text("letters, digits")
    page.fill("#hf-folder-create input[name=name]", "papers")
    page.click("#hf-folder-create-button")
    folder = page.locator('.hf-folder[data-folder="papers"]')
    expect(folder).to_contain_text("~/my-folders/papers")
    folder.locator("input[name=invitee]").fill("nobody")
    folder.locator("button", has_text="Invite").click()
    expect(folder.locator('[data-error-for="invitee"]')).to_contain_text("no such user")
    folder.locator("input[name=invitee]").fill("gil")
    folder.locator("select[name=permission]").select_option("rw")
    folder.locator("button", has_text="Invite").click()
    expect(page.locator('.hf-sent[data-invitee="gil"] .hf-state')).to_have_text("pending")
    screenshot(page, "folders-owner")

    page.context.clear_cookies()
    ui_login(page, portal_hub, "gil", "Gil-pass1")
    panel = page.locator("#hf-folder-invitations")
    expect(panel).to_contain_text("flo shares folder papers with you")
    expect(panel).to_contain_text("read-write")
    screenshot(page, "home-invitations-panel")
    panel.locator(".hf-fi-accept").click()
    # accepting says so, and where the folder is
    expect(panel.locator(".hf-fi-accepted")).to_have_text(
        "\u2713 Accepted: flo\u2019s folder papers is now at ~/shared-with-me/flo/papers in your notebooks and jobs.")
    screenshot(page, "home-invitation-accepted")
    page.reload()
    expect(page.locator("#hf-folder-invitations")).to_have_count(0)  # nothing pending any more
    page.goto(portal_hub.base_url + "/hub/portal/folders")
    expect(page.locator("#hf-shared-with-me")).to_contain_text("~/shared-with-me/flo/papers")
    page.locator("#hf-shared-with-me .hf-fi-leave").click()
    expect(page.locator("#hf-shared-with-me")).to_contain_text("Nobody has shared a folder with you.")


def test_start_menu_opens_the_launch_dialog_with_the_groups_quota(page, portal_hub):
    ui_login(page, portal_hub, "admin", portal_hub.admin_password)
    page.goto(portal_hub.base_url + "/hub/home")
    expect(page.locator("#hf-shortcut-users")).to_be_visible()  # admins
    page.click("#hf-start")
    modal = page.locator("#hf-start-modal")
    expect(modal).to_be_visible()
    group = page.locator("#hf-start-group")
    group.select_option("alpha")
    expect(modal.locator("#hf-start-form")).to_have_attribute("data-group", "alpha")
    expect(modal.locator('#hf-start-remaining [data-resource="cpu"]')).to_contain_text("1")
    expect(modal.locator(".hf-instance", has=page.locator("#it-cpu-medium"))).to_contain_text("Over quota")
    expect(modal.locator("#it-cpu-small")).to_be_checked()
    screenshot(page, "home-start-dialog")
    group.select_option("beta")
    expect(modal.locator("#hf-start-form")).to_have_attribute("data-group", "beta")
    expect(modal.locator('#hf-start-remaining [data-resource="cpu"]')).to_contain_text("unlimited")
    expect(modal.locator("#it-cpu-medium")).to_be_enabled()
    # the image list follows the instance type (the form's own script ran in the loaded dialog)
    modal.locator("#it-gpu-1").evaluate("n => { n.disabled = false; n.checked = true; n.dispatchEvent(new Event('change')); }")
    expect(modal.locator('#hf-image option[value="tensorflow"]')).to_be_disabled()
