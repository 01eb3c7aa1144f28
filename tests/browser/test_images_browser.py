"""The group admin's Images page in Chromium: a bad pip spec is told at the packages box, naming it;
an added image is listed next to the catalog's and is in the group's job form."""

import json
import re

import pytest
from playwright.sync_api import expect

from support import screenshot, ui_login

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def lab(portal_hub):
    portal_hub.add_user("igb-ann", "Ann-pass1", groups=["igb-lab"])
    admin = portal_hub.admin()
    r = admin.api("PATCH", "/portal/groups/igb-lab/policy", data=json.dumps({"admins": ["igb-ann"]}))
    assert r.status_code == 200, r.text
    return portal_hub


def test_add_an_image_from_the_page(page, lab):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)[:200]))
    ui_login(page, lab, "igb-ann", "Ann-pass1")
    page.goto(lab.base_url + "/hub/portal/images")
    expect(page.locator("#hf-sidemenu")).to_contain_text("Images")
    expect(page.locator("#hf-images")).to_contain_text("catalog")
    page.click("#hf-image-toggle")
    page.fill("#hf-im-name", "igb-cowsay")
    page.fill("#hf-im-display", "Cowsay")
    page.fill("#hf-im-description", "Python with cowsay")
    page.fill("#hf-im-image", "quay.io/jupyter/base-notebook:2024-05-27")
    page.fill("#hf-im-pip", "cowsay==6.1\nnumpy>>1")
    page.click("#hf-image-form button[type=submit]")
    expect(page.locator('[data-error="packages"]')).to_contain_text("'numpy>>1' is not a valid pip requirement")
    screenshot(page, "images-bad-spec")
    page.fill("#hf-im-pip", "cowsay==6.1")
    page.click("#hf-image-form button[type=submit]")
    expect(page.locator('.hf-image-row[data-name="igb-cowsay"]')).to_contain_text("cowsay==6.1")
    # what runs on this machine is a local Python environment: the page says that, not the container images
    python = re.compile(r"^Python 3\.\d+ \(the hub's own\)")
    expect(page.locator('.hf-image-row[data-name="igb-cowsay"] .hf-image-runs')).to_have_text(
        re.compile(python.pattern + r" \+ cowsay==6\.1$"))
    expect(page.locator('.hf-image-row[data-name="base"] .hf-image-runs')).to_have_text(re.compile(python.pattern + "$"))
    expect(page.locator("#hf-images")).not_to_contain_text("quay.io")
    expect(page.locator("#hf-images")).not_to_contain_text("base:cpu")
    screenshot(page, "images")
    page.goto(lab.base_url + "/hub/portal/jobs")
    expect(page.locator('option[value="igb-cowsay"]')).to_have_count(1)
    assert errors == []
