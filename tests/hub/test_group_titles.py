"""Groups named by their display names where a person reads them (issue 24, polish): activity lines (the
Recent panel, Logs / Errors, the activity API's text) and quota refusals (a job that can never fit, an
upload over the storage quota, the Start dialog's and the quick-launch buttons' reasons), while ids stay
where they identify (the API's ``group`` fields, addresses)."""

from __future__ import annotations

import html
import json

from conftest_helpers import login, make_user

VISION = {"display_name": "Vision Lab", "quota": {"cpu": 0.1}, "admins": ["gt-ann"]}


async def test_activity_lines_and_a_quota_refusal_name_the_group_by_its_display_name(app):
    await make_user(app, "gt-ann", groups=["gt-vision"], policies={"gt-vision": VISION})
    ann = await login(app, "gt-ann")
    await ann.api("PUT", "/portal/me/context", data=json.dumps({"group": "gt-vision"}))
    # a job over the group's quota on its own: refused by the quota, in the group's name
    r = await ann.api("POST", "/portal/groups/gt-vision/jobs", data=json.dumps({"name": "in gt-vision", "command": "date"}))
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["group"] == "gt-vision" and job["phase"] == "Failed"  # the id where it identifies
    assert "(group Vision Lab)" in job["message"] and "gt-vision)" not in job["message"], job["message"]
    assert "(group Vision Lab)" in (await ann.api("GET", f"/portal/jobs/{job['id']}")).json()["message"]
    page = html.unescape((await ann.get(f"hub/portal/jobs/{job['id']}")).text)
    assert "(group Vision Lab)" in page and "(group gt-vision)" not in page
    assert "<tr><th>Group</th><td>Vision Lab</td></tr>" in page
    for path, words in (("hub/portal/apps", "No apps are installed in Vision Lab"),
                        ("hub/portal/datasets", "Create a dataset owned by Vision Lab")):
        assert words in html.unescape((await ann.get(path)).text), path

    # the activity API's text
    rows = (await ann.api("GET", "/portal/me/activities?group=gt-vision")).json()["activities"]
    messages = [a["message"] for a in rows]
    assert f"Job 'in gt-vision' (#{job['id']}) submitted in Vision Lab" in messages, messages  # a quoted name kept
    assert any("failed (OverQuota)" in m and "(group Vision Lab)" in m for m in messages), messages
    assert all("(group gt-vision)" not in m and not m.endswith("in gt-vision") for m in messages)
    assert {a["group"] for a in rows} == {"gt-vision"}
    # the home page's Recent panel and Logs / Errors
    home = html.unescape((await ann.get("hub/home")).text)
    recent = home.split('id="hf-recent"')[1]
    assert "submitted in Vision Lab" in recent and "submitted in gt-vision" not in recent
    logs = html.unescape((await ann.get("hub/portal/logs")).text)
    assert "(group Vision Lab)" in logs and "submitted in Vision Lab" in logs and "(group gt-vision)" not in logs


async def test_the_start_dialog_says_what_is_over_in_the_groups_name(app):
    await make_user(app, "gt-bea", groups=["gt-small"],
                    policies={"gt-small": {"display_name": "Small Team", "quota": {"cpu": 0.1}}})
    bea = await login(app, "gt-bea")
    r = await bea.get("hub/portal/start?group=gt-small")
    assert r.status_code == 200
    body = html.unescape(r.text)
    assert "(group Small Team)" in body and "(group gt-small)" not in body
    # the quick-launch buttons' reason too
    home = html.unescape((await bea.get("hub/home")).text)
    assert "Over quota: CPU: used 0 + requested" in home and "(group Small Team)" in home
    assert "(group gt-small)" not in home


async def test_a_storage_refusal_names_the_group_by_its_display_name(app):
    await make_user(app, "gt-cy", groups=["gt-files"],
                    policies={"gt-files": {"display_name": "Small Files", "quota": {"storage": "1Mi"}}})
    cy = await login(app, "gt-cy")
    await cy.api("get", "/portal/groups/gt-files/files/")
    r = await cy.api("put", "/portal/groups/gt-files/files/big.bin", data=b"\0" * (2 * 2**20))
    assert r.status_code == 413, r.text
    assert r.headers["Hubfront-Error"] == "Storage: used 0 B + upload 2 MiB > limit 1 MiB (group Small Files)"
