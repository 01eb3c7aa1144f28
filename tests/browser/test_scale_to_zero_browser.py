"""Scale to zero as a person sees it (issue 25): the create form's Min replicas, Scale down after and Cold start
timeout (a bad duration told under its field, in plain words), then the deployment's page once nobody called
it: the phase "Scaled to zero", "Scaled to zero (no requests for 3 s) — wakes on the next request", and after a
request woke it, the last cold start. The replicas are a real tiny server, so the runner scales them for real."""

import requests
from playwright.sync_api import expect

from support import screenshot, ui_login

import pytest

pytestmark = pytest.mark.browser

SERVE = 'exec python3 -m http.server "$PORT" --bind "$HOST"'
WAIT_MS = 90_000  # the runner's own time: a few seconds idle, its next pass, replicas ending or starting


@pytest.fixture(scope="module")
def lab(portal_hub):
    portal_hub.add_user("sam", "Sam-pass1", groups=["lab"])
    r = portal_hub.admin().api("PATCH", "/portal/groups/lab/policy", json={"policy": {"deployments_enabled": True}})
    assert r.status_code == 200, r.text
    return portal_hub


def test_a_deployment_scaled_to_zero_says_so_and_shows_its_cold_start(page, lab):
    sam = lab.login("sam", "Sam-pass1")
    ui_login(page, lab, "sam", "Sam-pass1")
    page.goto(lab.base_url + "/hub/portal/deployments")
    expect(page.locator("#hf-dep-min_replicas")).to_have_value("1")  # today's behaviour unless asked
    expect(page.locator("#hf-dep-scale_down_after")).to_have_value("30m")
    expect(page.locator("#hf-dep-cold_start_timeout")).to_have_value("2m")
    page.fill("#hf-dep-id", "napper")
    page.fill("#hf-dep-name", "Napper")
    page.fill("#hf-dep-command", SERVE)
    page.fill("#hf-dep-min_replicas", "0")
    page.fill("#hf-dep-scale_down_after", "soon")
    page.click("#hf-deployment-submit")
    expect(page.locator('[data-error-for="scale_down_after"]')).to_have_text(
        "Scale down after: invalid duration 'soon' (use e.g. 3600, 30m, 2h or 1d)")
    assert sam.api("GET", "/portal/groups/lab/deployments").json()["deployments"] == []

    page.fill("#hf-dep-scale_down_after", "3s")
    page.click("#hf-deployment-submit")
    page.wait_for_url("**/hub/portal/deployments/napper")
    try:
        expect(page.locator("#hf-dep-phase")).to_have_text("Scaled to zero", timeout=WAIT_MS)
        zero = page.locator("#hf-dep-zero")
        expect(zero).to_have_text("Scaled to zero (no requests for 3 s) — wakes on the next request")
        expect(zero).to_have_attribute("data-zero", "1")
        expect(page.locator("#hf-dep-cold-start")).to_have_text("none yet")
        expect(page.locator('[data-field="available"]')).to_have_text("0")
        screenshot(page, "deployment-scaled-to-zero")

        r = requests.get(f"{lab.base_url}/deployments/napper/", timeout=WAIT_MS / 1000)  # wakes it
        assert r.status_code == 200, r.text
        cold = sam.api("GET", "/portal/deployments/napper").json()["scale_to_zero"]["last_cold_start"]
        expect(page.locator('#hf-dep-cold-start [data-zero="last_cold_start"]')).to_have_text(cold, timeout=10_000)
        expect(page.locator('[data-zero="wakes"]')).to_have_text("1")
        screenshot(page, "deployment-woken-cold-start")
    finally:
        assert sam.api("DELETE", "/portal/deployments/napper").status_code == 204
