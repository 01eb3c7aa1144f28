"""An idle notebook as its owner sees it (issue 25), in Chromium on a real hub with its runner: with an idle
timeout of 60 s and a warning 30 s before, the warning shows on the Notebooks page and as a banner on other
pages; Keep running postpones the stop; left alone it is stopped, its activity says why, the Notebooks page
shows it and its reservation is gone from the ledger."""

import pytest
from playwright.sync_api import expect

from support import (catalog_hub, make_groups, need, proxy_command, screenshot, stop_leftover_servers, ui_login,
                     until, wait_for_server, wait_for_stopped)

pytestmark = pytest.mark.browser
PASSWORD = "Idle-pass1"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    hub = catalog_hub(tmp_path_factory.mktemp("idle-browser"), [{"name": "tiny", "cpu": "500m", "memory": "512Mi"}],
                      "c.Lifecycle.interval = 2\n")
    hub.start()
    try:
        make_groups(hub, {"idlers": {"display_name": "Idle Lab", "instance_types": ["tiny"],
                                     "default_instance_type": "tiny", "idle_timeout": 60, "warn_before": 30}})
        hub.add_user("iva", PASSWORD, ["idlers"])
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)


def cull_at(session) -> str | None:
    found = [n for n in session.api("GET", "/portal/me/notebooks").json()["notebooks"] if n["server"] == "idlers"]
    return found[0]["cull_at"] if found else None


def held(hub) -> list[str]:
    from hub_ext.ledger import Ledger

    return sorted(r.workload_id for r in Ledger(hub.portal_db_url).reservations(kind="notebook"))


def test_the_warning_keep_running_and_the_stop_of_an_idle_notebook(page, hub):
    iva = hub.login("iva", PASSWORD)
    r = iva.api("POST", "/users/iva/servers/idlers", json={"group": "idlers", "instance_type": "tiny", "image": "base"})
    assert r.status_code in (201, 202), r.text
    wait_for_server(iva, "iva", "idlers", hub=hub)
    ui_login(page, hub, "iva", PASSWORD)

    # the Notebooks page says what the culler saw, then warns (30 s before the stop)
    page.goto(hub.base_url + "/hub/portal/notebooks")
    row = page.locator('#hf-notebooks tr[data-server="idlers"]')
    def warned() -> bool:
        page.reload()
        return row.locator(".hf-idle-warning").count() == 1

    until(warned, 90, "the idle warning", interval=2)
    warning = row.locator(".hf-idle-warning")
    expect(warning).to_contain_text("Stops in")
    expect(warning).to_contain_text("idle since")
    expect(row.locator(".hf-idle")).to_contain_text("Last activity")
    screenshot(page, "notebooks-idle-warning")
    # home says it in the running card (not twice: no banner there)
    page.goto(hub.base_url + "/hub/home")
    expect(page.locator("#hf-quicklaunch .hf-idle-card")).to_contain_text("Stops in")
    expect(page.locator('.hf-banner[data-banner="idle-idlers"]')).to_have_count(0)
    screenshot(page, "home-idle-card")
    # ... and every other page shows it as a banner
    page.goto(hub.base_url + "/hub/portal/jobs")
    banner = page.locator('.hf-banner[data-banner="idle-idlers"]')
    expect(banner).to_contain_text("Notebook in Idle Lab — Stops in")
    screenshot(page, "idle-banner")

    # Keep running: the idle clock starts again, as an activity
    before = cull_at(iva)
    banner.locator(".hf-keep-running").click()
    expect(page.locator(".hf-kept")).to_contain_text("Kept running — Stops at")
    assert cull_at(iva) > before
    kept = [a for a in iva.api("GET", "/portal/me/activities?group=idlers").json()["activities"] if a["action"] == "kept"]
    assert kept and "(extension 1 of 3)" in kept[0]["message"]
    assert hub.portal_db_url and held(hub) == ["iva/idlers"]

    # left alone, it is stopped after the timeout; the page and the activity say why; its quota is back
    wait_for_stopped(iva, "iva", "idlers", timeout=180)
    page.goto(hub.base_url + "/hub/portal/notebooks")
    expect(row.locator(".hf-outcome")).to_have_text("Stopped after 1 min idle (no activity, CPU < 2 %)")
    screenshot(page, "notebooks-idle-stopped")
    culled = [a for a in iva.api("GET", "/portal/me/activities?group=idlers").json()["activities"]
              if a["action"] == "culled"]
    assert [a["message"] for a in culled] == ["Stopped after 1 min idle (no activity, CPU < 2 %)"]
    assert held(hub) == []

    # admins see the culler's last pass on Maintenance
    admin = page.context.browser.new_page(viewport={"width": 1280, "height": 900})
    ui_login(admin, hub, "admin", hub.admin_password)
    admin.goto(hub.base_url + "/hub/portal/maintenance")
    expect(admin.locator('[data-field="culler"]')).to_contain_text("looked at")
    expect(admin.locator('[data-field="culler"]')).to_contain_text("every 2 s")
    screenshot(admin, "maintenance-culler")
    admin.close()
