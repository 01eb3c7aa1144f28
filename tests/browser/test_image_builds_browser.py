"""Image builds in Chromium: the Build image form tells a bad spec at its manager's box, naming it; a
build's panel shows its log live, its phase and elapsed time; the image is offered disabled in the
job form until the build succeeded, then enabled. Screenshots while it builds and after."""

import json

import pytest
from playwright.sync_api import expect

from support import screenshot, ui_login

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def lab(portal_hub):
    portal_hub.add_user("ibb-ann", "Ann-pass1", groups=["ibb-lab"])
    admin = portal_hub.admin()
    r = admin.api("PATCH", "/portal/groups/ibb-lab/policy", data=json.dumps({"admins": ["ibb-ann"]}))
    assert r.status_code == 200, r.text
    return portal_hub


def test_build_an_image_from_the_page(page, lab):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)[:200]))
    ui_login(page, lab, "ibb-ann", "Ann-pass1")
    page.goto(lab.base_url + "/hub/portal/images")
    page.click("#hf-build-toggle")
    page.fill("#hf-b-name", "ibb-cows")
    page.fill("#hf-b-display", "Cows")
    page.select_option("#hf-b-base", "base")
    page.fill("#hf-b-pip", "cowsay==6.1\nnumpy>>1")
    expect(page.locator("#hf-b-apt")).to_be_disabled()  # the embedded mode builds Python environments
    page.click("#hf-build-form button[type=submit]")
    expect(page.locator('[data-error="packages.pip"]')).to_contain_text("'numpy>>1' is not a valid pip requirement")
    screenshot(page, "image-build-bad-spec")
    page.fill("#hf-b-pip", "cowsay==6.1\nsympy")  # sympy: a build that lasts a few seconds
    page.click("#hf-build-form button[type=submit]")
    expect(page.locator("#hf-build-form .hf-form-error")).to_be_hidden()
    panel = page.locator("#hf-build")
    expect(panel).to_be_visible()
    expect(panel.locator('[data-field="title"]')).to_have_text("ibb-cows #1")
    expect(page.locator(".hf-build-row")).to_have_count(1)
    # while it builds: the log streams in, and the job form offers the image disabled
    expect(page.locator("#hf-build-log")).to_contain_text("Collecting cowsay", timeout=120_000)
    expect(page.locator("#hf-build-phase")).to_have_text("Building")
    expect(page.locator("#hf-build-live")).to_be_visible()
    screenshot(page, "image-build-running")
    jobs = page.context.new_page()
    shown = jobs.goto(lab.base_url + "/hub/portal/jobs")
    assert shown.ok, (shown.status, shown.text()[:500])
    assert jobs.locator('option[value="ibb-cows"]').count() == 1, jobs.locator("body").inner_text()[:2000]
    option = jobs.locator('option[value="ibb-cows"]')
    if "not yet available" in option.inner_text():  # (unless the build ended meanwhile)
        expect(option).to_be_disabled()
    expect(page.locator("#hf-build-phase")).to_have_text("Succeeded", timeout=180_000)
    expect(page.locator("#hf-build-log")).to_contain_text("Successfully installed cowsay-6.1")
    expect(page.locator("#hf-build-live")).to_be_hidden()
    expect(panel.locator('[data-field="elapsed"]')).not_to_have_text("—")
    expect(page.locator("#hf-build-cancel")).to_be_hidden()
    screenshot(page, "image-build-done")
    # the log is kept: reopening the page shows it again; the image is usable now
    page.goto(lab.base_url + "/hub/portal/images?image=ibb-cows&build=1")
    expect(page.locator("#hf-build-log")).to_contain_text("Successfully installed cowsay-6.1")
    jobs.goto(lab.base_url + "/hub/portal/jobs")
    expect(jobs.locator('option[value="ibb-cows"]')).to_be_enabled()
    assert errors == []
