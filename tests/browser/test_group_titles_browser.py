"""Groups by their display names where people read them (issue 24, polish), in Chromium on a real hub: a job
the group's quota can never hold is refused in the group's name, and the home's Recent panel and Logs /
Errors, and the quick-launch buttons' reason, name the group as people know it ("submitted in Vision Lab",
"(group Vision Lab)"), never by its id."""

import pytest
from playwright.sync_api import expect

from support import screenshot, ui_login

pytestmark = pytest.mark.browser


def test_recent_and_logs_name_the_group_and_its_quota_refusal_by_display_name(page, portal_hub):
    admin = portal_hub.admin()
    admin.api("POST", "/groups/gtb-vision").raise_for_status()
    r = admin.api("PATCH", "/portal/groups/gtb-vision/policy",
                  json={"display_name": "Vision Lab", "quota": {"cpu": "100m"}})
    assert r.status_code == 200, r.text
    portal_hub.add_user("gtb-vic", "Vic-pass1", groups=["gtb-vision"])
    vic = portal_hub.login("gtb-vic", "Vic-pass1")
    r = vic.api("POST", "/portal/groups/gtb-vision/jobs", json={"name": "in gtb-vision", "command": "date"})
    assert r.status_code == 201, r.text
    assert "(group Vision Lab)" in r.json()["message"]

    ui_login(page, portal_hub, "gtb-vic", "Vic-pass1")
    recent = page.locator("#hf-recent")
    expect(recent).to_contain_text("submitted in Vision Lab")
    expect(recent).to_contain_text("(group Vision Lab)")
    expect(recent).not_to_contain_text("(group gtb-vision)")
    expect(recent).to_contain_text("Job 'in gtb-vision'")  # a name someone chose stays as they wrote it
    expect(page.locator("#hf-quicklaunch")).to_contain_text("Over quota: CPU: used 0 + requested 0.5 > limit 0.1 "
                                                            "(group Vision Lab)")
    screenshot(page, "home-recent-group-display-names")

    page.goto(portal_hub.base_url + "/hub/portal/logs")
    rows = page.locator("#hf-logs")
    expect(rows).to_contain_text("(group Vision Lab)")
    expect(rows).to_contain_text("submitted in Vision Lab")
    expect(rows).not_to_contain_text("(group gtb-vision)")
    screenshot(page, "logs-group-display-names")
