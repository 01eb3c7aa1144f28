"""The REST API page in Chromium: every operation of the OpenAPI document, with its fields and statuses."""

import pytest
from playwright.sync_api import expect

from hub_ext.portal.openapi import spec
from support import SCREENSHOTS, screenshot, ui_login

pytestmark = pytest.mark.browser


def test_the_rest_api_page_lists_every_operation_of_the_document(page, portal_hub):
    ui_login(page, portal_hub, "admin", portal_hub.admin_password)
    page.goto(portal_hub.base_url + "/hub/portal/docs/rest-api")
    cards = page.locator(".hf-api-op")
    expect(cards).to_have_count(len(spec.OPERATIONS))
    submit = page.locator("#op-post_groups_group_jobs")
    expect(submit.locator(".card-header")).to_contain_text("POST")
    expect(submit.locator(".card-header")).to_contain_text("/api/portal/groups/{group}/jobs")
    expect(submit.locator(".hf-api-body")).to_contain_text("command")
    expect(submit.locator(".hf-api-statuses")).to_contain_text("201")
    expect(submit.locator(".hf-api-params")).to_contain_text("group (path)")
    expect(page.locator("#model-Quota")).to_contain_text("memory")
    screenshot(page, "rest-api-reference")  # the whole page
    page.locator(".hf-api-toc").screenshot(path=str(SCREENSHOTS / "rest-api-contents.png"))  # the list
    submit.screenshot(path=str(SCREENSHOTS / "rest-api-job-submit.png"))  # one operation, as a reader sees it
