"""Deployments as a person sees them on a real hub: create one from the form (a bad id is told at the
field), its page shows the phase the API reports, an edit sends only what changed and shows in the
history, a rollback from the history, stop/start/delete, a private deployment's clients (the token
shown once), the limits' refusals, the group without deployments, and the Models page's Deploy link.

The runner's replicas are not what is tested here (tests/e2e does that): the serve command sleeps,
and the page is held to whatever phase the API reports."""

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from attack_pages import server_command
from support import screenshot, ui_login

pytestmark = pytest.mark.browser

PHASES = ("Deploying", "Deployed", "Updating", "Stopping", "Stopped", "Failed")
SERVE = "sleep 600"  # holds a replica without answering: the deployment shows the runner's view of it


@pytest.fixture(scope="module")
def lab(portal_hub):
    """Group ``lab`` with deployments enabled: dana deploys, kim is a member, olga is in another group."""
    portal_hub.add_user("dana", "Dana-pass1", groups=["lab"])
    portal_hub.add_user("kim", "Kim-pass1", groups=["lab"])
    portal_hub.add_user("olga", "Olga-pass1", groups=["beta"])
    r = portal_hub.admin().api("PATCH", "/portal/groups/lab/policy", json={"policy": {"deployments_enabled": True}})
    assert r.status_code == 200, r.text
    return portal_hub


def api_phase(session, dep_id: str) -> str:
    r = session.api("GET", f"/portal/deployments/{dep_id}")
    assert r.status_code == 200, r.text
    return r.json()["phase"]


def shows_api_phase(page, session, dep_id: str, timeout: float = 20, badge: str = "#hf-dep-phase",
                    reload: bool = False) -> str:
    """The page's badge equals the phase the API reports (the page polls, or is loaded again with ``reload``;
    the runner may move the phase on meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        if reload:
            page.reload()
        shown, reported = page.locator(badge).first.inner_text().strip(), api_phase(session, dep_id)
        if shown == reported or time.monotonic() > deadline:
            assert shown == reported and shown in PHASES, (shown, reported)
            return shown
        time.sleep(0.5)


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_create_edit_roll_back_stop_start_and_delete_from_the_pages(page, lab):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.base_url)
    dana = lab.login("dana", "Dana-pass1")
    ui_login(page, lab, "dana", "Dana-pass1")
    page.goto(lab.base_url + "/hub/portal/deployments")
    expect(page.locator("#hf-sidemenu")).to_contain_text("Deployments")
    expect(page.locator("#hf-deployments")).to_contain_text("No deployments yet in this group.")
    expect(page.locator("#hf-create-card")).to_be_visible()  # nothing yet: the form is open
    # the free tier's 1 is the smaller of the limits (the group has no maximum), and the form says so
    expect(page.locator("#hf-deployments-most")).to_have_text(
        "This group may run at most 1 deployment at a time: the platform's license allows 1.")
    expect(page.locator("#hf-dep-instance_type")).to_have_value("cpu-small")  # the catalog's first, preselected
    expect(page.locator("#hf-dep-source-command")).to_be_checked()
    expect(page.locator("#hf-dep-model_uri")).to_be_hidden()

    # the id must be a DNS label: the API's refusal is shown under the field, nothing is created
    page.fill("#hf-dep-id", "Echo_1")
    page.fill("#hf-dep-name", "Echo")
    page.fill("#hf-dep-command", SERVE)
    page.click("#hf-deployment-submit")
    expect(page.locator('[data-error-for="id"]')).to_contain_text("DNS label")
    expect(page.locator("#hf-dep-id")).to_have_class(re.compile(r"is-invalid"))
    assert dana.api("GET", "/portal/groups/lab/deployments").json()["deployments"] == []
    screenshot(page, "deployments-form-id-error")
    # no serve command: the source rule is told at the command
    page.fill("#hf-dep-id", "echo-one")
    page.fill("#hf-dep-command", "")
    page.click("#hf-deployment-submit")
    expect(page.locator('[data-error-for="command"]')).to_have_text(
        "Command: enter a command to run, or serve a model from the registry instead")
    expect(page.locator('[data-error-for="id"]')).to_be_empty()

    page.fill("#hf-dep-command", SERVE)
    page.fill("#hf-dep-description", "answers nothing, on purpose")
    page.fill("#hf-dep-replicas", "2")
    page.fill("#hf-dep-env", "GREETING=hello")
    page.click("#hf-deployment-submit")
    page.wait_for_url("**/hub/portal/deployments/echo-one")

    # the page: what the API reports, the endpoint with its copy button and a curl example
    assert shows_api_phase(page, dana, "echo-one") in PHASES
    expect(page.locator("#hf-dep-name")).to_have_text("Echo")
    expect(page.locator("#hf-dep-command")).to_have_text(SERVE)
    expect(page.locator('[data-field="replicas"]')).to_have_text("2")
    expect(page.locator("#hf-dep-env")).to_have_text("GREETING=hello")
    endpoint = f"{lab.base_url}/deployments/echo-one/"
    expect(page.locator("#hf-dep-endpoint")).to_have_text(endpoint)
    expect(page.locator("#hf-dep-curl")).to_have_text(f"curl '{endpoint}'")
    expect(page.locator("#hf-clients-card")).to_have_count(0)  # public: no clients
    page.click("#hf-copy-endpoint")
    expect(page.locator("#hf-copy-endpoint")).to_have_class(re.compile(r"hf-copied"))
    assert clipboard(page) == endpoint
    history = page.locator("#hf-history tr.hf-revision")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("Created")
    expect(page.locator(".hf-rollback")).to_have_count(0)  # nothing earlier to go back to
    screenshot(page, "deployment-page")

    # Edit: only the changed fields are sent (PATCH), and the change is a new entry of the history
    page.click("#hf-dep-edit")
    expect(page.locator("#hf-edit-name")).to_have_value("Echo")
    expect(page.locator("#hf-edit-env")).to_have_value("GREETING=hello\n")
    page.fill("#hf-edit-replicas", "1")
    page.fill("#hf-edit-env", "GREETING=hello\nMODE=fast")
    with page.expect_request(lambda r: r.method == "PATCH") as sent:
        page.click("#hf-edit-save")
    assert sent.value.post_data_json == {"replicas": 1, "env": {"GREETING": "hello", "MODE": "fast"}}
    expect(history).to_have_count(2)
    newest = history.first
    expect(newest).to_have_attribute("data-revision", "2")
    expect(newest).to_contain_text("dana")
    expect(newest.locator(".hf-changes")).to_contain_text("replicas: 2 → 1")
    expect(newest.locator(".hf-changes")).to_contain_text("environment: added MODE")
    expect(page.locator('[data-field="revision"]')).to_have_text("2")
    screenshot(page, "deployment-page-edited")

    # Roll back (revision 1): the API rolls its spec out again as revision 3
    page.on("dialog", lambda dialog: dialog.accept())
    rollback = page.locator('#hf-history tr[data-revision="1"] .hf-rollback')
    expect(rollback).to_have_count(1)
    with page.expect_request(lambda r: r.url.endswith("/rollback")) as sent:
        rollback.click()
    assert sent.value.post_data_json == {"revision": 1}
    expect(history.first).to_have_attribute("data-revision", "3")
    expect(history.first.locator(".hf-changes")).to_contain_text("replicas: 1 → 2")
    expect(history.first.locator(".hf-changes")).to_contain_text("environment: removed MODE")
    state = dana.api("GET", "/portal/deployments/echo-one").json()
    assert state["replicas"] == 2 and state["env"] == {"GREETING": "hello"} and state["revision"] == 3

    # Stop, then Start: the buttons follow the desired state, the badge the reported phase
    page.click("#hf-dep-stop")
    expect(page.locator("#hf-dep-start")).to_be_visible()
    expect(page.locator("#hf-dep-stop")).to_be_hidden()
    assert dana.api("GET", "/portal/deployments/echo-one").json()["stopped"] is True
    assert shows_api_phase(page, dana, "echo-one") in ("Stopping", "Stopped")
    page.click("#hf-dep-start")
    expect(page.locator(".hf-action-error")).to_be_hidden()
    expect(page.locator("#hf-dep-stop")).to_be_visible()
    assert dana.api("GET", "/portal/deployments/echo-one").json()["stopped"] is False
    assert shows_api_phase(page, dana, "echo-one") not in ("Stopping", "Stopped")

    # the list: phase as reported, availability, access, owner, endpoint with its copy button
    page.goto(lab.base_url + "/hub/portal/deployments")
    row = page.locator('#hf-deployments tr[data-id="echo-one"]')
    expect(row.locator(".hf-dep-name")).to_have_text("Echo")
    shows_api_phase(page, dana, "echo-one", badge='#hf-deployments tr[data-id="echo-one"] .hf-phase', reload=True)
    expect(row.locator(".hf-replicas")).to_have_text(re.compile(r"^\d+ / 2$"))
    expect(row.locator(".hf-access")).to_have_text("public")
    expect(row.locator(".hf-owner")).to_have_text("dana")
    expect(row.locator(".hf-endpoint")).to_have_text(endpoint)
    expect(page.locator("#hf-create-card")).to_be_hidden()  # there are deployments: the form waits for its button
    row.locator(".hf-copy").click()
    assert clipboard(page) == endpoint
    time.sleep(2.5)  # one refresh of the list from the API keeps the row
    expect(row.locator(".hf-owner")).to_have_text("dana")
    screenshot(page, "deployments-list")

    # a member sees it read-only, without the variables' values; another group's user gets 404
    kim = lab.login("kim", "Kim-pass1")
    html = kim.get(kim.url("/hub/portal/deployments/echo-one")).text
    assert "hf-dep-readonly" in html and 'id="hf-dep-stop"' not in html and "hf-rollback" not in html
    assert "GREETING" in html and "hello" not in html
    olga = lab.login("olga", "Olga-pass1")
    assert olga.get(olga.url("/hub/portal/deployments/echo-one")).status_code == 404
    assert olga.api("GET", "/portal/deployments/echo-one").status_code == 404

    # Delete
    page.goto(lab.base_url + "/hub/portal/deployments/echo-one")
    page.click("#hf-dep-delete")
    page.wait_for_url("**/hub/portal/deployments")
    expect(page.locator('#hf-deployments tr[data-id="echo-one"]')).to_have_count(0)
    assert dana.api("GET", "/portal/deployments/echo-one").status_code == 404
    assert dana.get(dana.url("/hub/portal/deployments/echo-one")).status_code == 404


def test_a_private_deployments_client_token_is_shown_once(page, lab):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.base_url)
    dana = lab.login("dana", "Dana-pass1")
    # times in Tokyo: a client's expiry typed on the page is Tokyo time, whatever the browser's zone
    assert dana.api("PUT", "/portal/me/preferences", json={"timezone": "Asia/Tokyo"}).status_code == 200
    r = dana.api("POST", "/portal/groups/lab/deployments",
                 json={"id": "secret-one", "name": "Secret", "command": SERVE, "access": "private"})
    assert r.status_code == 201, r.text
    ui_login(page, lab, "dana", "Dana-pass1")
    page.goto(lab.base_url + "/hub/portal/deployments/secret-one")
    expect(page.locator("#hf-dep-curl")).to_contain_text('-H "Authorization: Bearer $TOKEN"')
    expect(page.locator("#hf-clients")).to_contain_text("No clients yet")

    page.fill("#hf-client-name", "Web App")
    page.click("#hf-client-add")
    expect(page.locator('#hf-client-form [data-error-for="name"]')).to_contain_text("lower-case")
    page.fill("#hf-client-name", "web-app")
    page.fill("#hf-client-expires", "2031-05-06T07:08")
    page.click("#hf-client-add")
    expect(page.locator("#hf-client-token-box")).to_be_visible()
    expect(page.locator("#hf-client-token-name")).to_have_text("web-app")
    token = page.locator("#hf-client-token").input_value()
    assert len(token) >= 40
    page.click("#hf-copy-token")
    assert clipboard(page) == token
    row = page.locator('#hf-clients tr[data-name="web-app"]')
    expect(row).to_contain_text("2031-05-06 07:08")
    expect(row.locator(".hf-client-state")).to_have_text("active")
    listed = dana.api("GET", "/portal/deployments/secret-one/clients").json()["clients"]
    assert listed[0]["expires"].startswith("2031-05-05T22:08")  # 07:08 in Tokyo is 22:08 UTC the day before
    assert "token" not in listed[0]
    screenshot(page, "deployment-private-token")

    # never again: not after a reload, not in the page, not from the API
    page.reload()
    expect(page.locator("#hf-client-token-box")).to_be_hidden()
    assert token not in page.content()
    assert token not in dana.api("GET", "/portal/deployments/secret-one/clients").text

    # an expiry in the past shows as expired; Revoke stops the other one
    page.fill("#hf-client-name", "old-app")
    page.fill("#hf-client-expires", "2020-01-01T00:00")
    page.click("#hf-client-add")
    expect(page.locator('#hf-clients tr[data-name="old-app"] .hf-client-state')).to_have_text("expired")
    page.click("#hf-client-token-done")
    expect(page.locator("#hf-client-token-box")).to_be_hidden()
    page.on("dialog", lambda dialog: dialog.accept())
    row.locator(".hf-revoke").click()
    expect(row.locator(".hf-client-state")).to_contain_text("revoked")
    expect(row.locator(".hf-revoke")).to_have_count(0)
    screenshot(page, "deployment-private-clients")
    assert dana.api("DELETE", "/portal/deployments/secret-one").status_code == 204


def test_limits_refuse_with_their_message_and_a_group_without_deployments_says_so(page, lab):
    lab.add_user("sol", "Sol-pass1", groups=["solo"])
    admin = lab.admin()
    r = admin.api("PATCH", "/portal/groups/solo/policy",
                  json={"policy": {"deployments_enabled": True, "deployments_max": 1}})
    assert r.status_code == 200, r.text
    sol = lab.login("sol", "Sol-pass1")
    assert sol.api("POST", "/portal/groups/solo/deployments",
                   json={"id": "solo-first", "name": "First", "command": SERVE}).status_code == 201
    ui_login(page, lab, "sol", "Sol-pass1")
    page.goto(lab.base_url + "/hub/portal/deployments#create")
    # full: the page offers no Create that would be refused, and says why (the group's 1 and the license's 1)
    expect(page.locator("#hf-deployments-most")).to_have_text(
        "This group may run at most 1 deployment at a time: the group's policy and the platform's license allow 1.")
    expect(page.locator("#hf-deployments-why")).to_have_text(
        "This group runs 1 of at most 1 deployment (the group's policy). Stop or delete one to create another.")
    expect(page.locator("#hf-deployment-form")).to_have_count(0)
    expect(page.locator("#hf-create-toggle")).to_have_count(0)
    screenshot(page, "deployments-limit")
    r = sol.api("POST", "/portal/groups/solo/deployments", json={"id": "solo-second", "name": "Second", "command": SERVE})
    assert r.status_code == 403 and r.json()["message"] == \
        "Group solo has reached its maximum of 1 deployment (deployments_max)"
    assert [d["id"] for d in sol.api("GET", "/portal/groups/solo/deployments").json()["deployments"]] == ["solo-first"]

    # stopped, its place is taken by another: its Start is not offered, and the page says why
    assert sol.api("POST", "/portal/deployments/solo-first/stop").status_code == 202
    r = sol.api("POST", "/portal/groups/solo/deployments", json={"id": "solo-second", "name": "Second", "command": SERVE})
    assert r.status_code == 201, r.text
    page.goto(lab.base_url + "/hub/portal/deployments/solo-first")
    expect(page.locator("#hf-dep-start")).to_be_disabled()
    expect(page.locator("#hf-dep-start-why")).to_have_text(
        "Start is not available: This group runs 1 of at most 1 deployment (the group's policy). "
        "Stop or delete one to start this one.")
    screenshot(page, "deployment-start-refused")
    assert sol.api("DELETE", "/portal/deployments/solo-second").status_code == 204

    # beta has no deployments: the page says so, and where they are enabled
    olga_context = page.context.browser.new_context(viewport={"width": 1280, "height": 800})
    olga_page = olga_context.new_page()
    ui_login(olga_page, lab, "olga", "Olga-pass1")
    olga_page.goto(lab.base_url + "/hub/portal/deployments")
    expect(olga_page.locator("#hf-deployments-disabled")).to_contain_text("not enabled for this group")
    expect(olga_page.locator("#hf-deployment-form")).to_have_count(0)
    olga_context.close()
    html = admin.get(admin.url("/hub/portal/deployments")).text  # the admin's current group: alpha
    assert "not enabled for this group" in html and "portal/group-settings#hf-policy-form" in html
    assert sol.api("DELETE", "/portal/deployments/solo-first").status_code == 204


def test_the_models_deploy_link_opens_the_form_on_the_model(page, lab):
    ui_login(page, lab, "dana", "Dana-pass1")
    # the Models page links to /hub/portal/deployments/new?model_uri=… (hub_ext.portal.models.registry.deploy_link)
    page.goto(lab.base_url + "/hub/portal/deployments/new?model_uri=models%3A%2Firis%2F3")
    expect(page.locator("#hf-create-card")).to_be_visible()
    expect(page.locator("#hf-dep-source-model")).to_be_checked()
    expect(page.locator("#hf-dep-model_uri")).to_have_value("models:/iris/3")
    expect(page.locator("#hf-dep-command")).to_be_hidden()
    expect(page.locator("#hf-dep-id")).to_have_value("iris-v3")
    expect(page.locator("#hf-dep-name")).to_have_value("iris")
    screenshot(page, "deployments-form-model")
    # a URI that is no models:/ URI is refused at its field
    page.fill("#hf-dep-model_uri", "runs:/abc/model")
    page.click("#hf-deployment-submit")
    expect(page.locator('[data-error-for="model_uri"]')).to_contain_text("models:/<name>/<version>")
    expect(page.locator("#hf-dep-model_uri")).to_have_class(re.compile(r"is-invalid"))

    # "new" names the form, so no deployment may be called that
    dana = lab.login("dana", "Dana-pass1")
    r = dana.api("POST", "/portal/groups/lab/deployments", json={"id": "new", "name": "Called new", "command": SERVE})
    assert r.status_code == 400 and "id" in r.json()["errors"]


def test_an_admin_opening_a_members_public_deployment_page_hands_over_nothing(page, lab):
    """Issue 20: the page's script would read /hub/home for the XSRF token and mint a token with the admin's
    session. Endpoints stay on the hub's origin, sandboxed: the script gets an opaque origin (here it does
    not even run), and the admin's tokens are the same afterwards."""
    dana = lab.login("dana", "Dana-pass1")
    r = dana.api("POST", "/portal/groups/lab/deployments", json={
        "id": "attack", "name": "Attack", "command": server_command('"$PORT"', "/dev/null"), "access": "public",
        "health_path": "/health"})
    assert r.status_code == 201, r.text
    try:
        until = time.monotonic() + 120
        while api_phase(dana, "attack") != "Deployed":
            assert time.monotonic() < until and api_phase(dana, "attack") != "Failed", api_phase(dana, "attack")
            time.sleep(1)
        admin = lab.admin()
        before = admin.api("GET", "/users/admin/tokens").json()["api_tokens"]
        ui_login(page, lab, "admin", lab.admin_password)
        answer = page.goto(f"{lab.base_url}/deployments/attack/?user=admin&hub={lab.base_url}")
        assert answer.status == 200 and "sandbox" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        expect(page.locator("#out")).to_have_text("waiting")
        page.wait_for_timeout(3000)  # what the script would have done, it would have done by now
        expect(page.locator("body[data-done]")).to_have_count(0)
        after = admin.api("GET", "/users/admin/tokens").json()["api_tokens"]
        assert [t["id"] for t in after] == [t["id"] for t in before] and not any(t["note"] == "stolen" for t in after)
        screenshot(page, "deployment-attack-sandboxed")
    finally:
        dana.api("DELETE", "/portal/deployments/attack")


def test_a_serving_deployment_shows_one_serving_badge_and_its_latency_on_one_line(page, lab):
    """Issue 24's polish: the history said "serving serving" once the page had refreshed itself, and the
    latency figures wrapped ("11.1" over "ms")."""
    dana = lab.login("dana", "Dana-pass1")
    r = dana.api("POST", "/portal/groups/lab/deployments", json={
        "id": "answers", "name": "Answers", "command": server_command('"$PORT"', "/dev/null"), "health_path": "/health"})
    assert r.status_code == 201, r.text
    try:
        until = time.monotonic() + 120
        while api_phase(dana, "answers") != "Deployed":
            assert time.monotonic() < until and api_phase(dana, "answers") != "Failed", api_phase(dana, "answers")
            time.sleep(1)
        for _ in range(5):
            assert requests.get(f"{lab.base_url}/deployments/answers/health", timeout=10).status_code == 200
        ui_login(page, lab, "dana", "Dana-pass1")
        page.goto(lab.base_url + "/hub/portal/deployments/answers")
        # the runner adds its traffic figures every few seconds; the page polls them in
        expect(page.locator('[data-traffic="latency_p50_ms"]')).to_have_text(re.compile(r"^\d+\.\d ms$"), timeout=30000)
        page.wait_for_timeout(3000)  # at least one more refresh of the page
        expect(page.locator("#hf-history .hf-serving")).to_have_count(1)
        expect(page.locator('#hf-history tr[data-revision="1"]').first).to_contain_text("serving")
        assert "serving serving" not in page.locator("#hf-history").inner_text()
        for figure in ("requests", "errors", "unauthorized", "latency_p50_ms", "latency_p99_ms"):
            lines = page.evaluate("""(name) => { const r = document.createRange();
                r.selectNodeContents(document.querySelector('[data-traffic="' + name + '"]'));
                return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }""", figure)
            assert lines == 1, (figure, lines)
        screenshot(page, "deployment-serving")
    finally:
        dana.api("DELETE", "/portal/deployments/answers")
