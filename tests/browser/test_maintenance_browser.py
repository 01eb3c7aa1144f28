"""Maintenance in Chromium (issue 13): recompute lists the reservation of a workload that is gone."""

import pytest
from playwright.sync_api import expect

from hub_ext.ledger import Ledger, Request
from hub_ext.policy import Quota
from support import screenshot, ui_login

pytestmark = pytest.mark.browser


def test_recompute_lists_a_dead_reservation(page, portal_hub):
    ledger = Ledger(portal_hub.portal_db_url)
    ledger.reserve(kind="notebook", workload_id="ghost/alpha", username="ghost", group="alpha",
                   request=Request(cpu=0.5, memory=2**30), group_quota=Quota(), user_quota=Quota())
    ui_login(page, portal_hub, "admin", portal_hub.admin_password)
    page.goto(portal_hub.base_url + "/hub/home")
    page.locator("#hf-shortcut-maintenance").click()  # the Start menu's shortcut
    page.wait_for_url("**/hub/portal/maintenance")
    expect(page.locator('#hf-runner-health [data-field="runner"] .badge')).to_have_text("up")
    page.get_by_role("button", name="Recompute now").click()
    row = page.locator("#hf-recompute-removed tr.hf-removed")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("ghost/alpha")
    expect(row.locator("td").nth(3)).to_have_text("alpha")
    assert ledger.get("notebook", "ghost/alpha") is None
    screenshot(page, "maintenance")
