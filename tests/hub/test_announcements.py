"""Announcements on a MockHub: admin writes, audience filtering, banners, dismiss and re-show."""

import json
import re

from conftest_helpers import login, make_user


def banner_ids(html: str) -> list[str]:
    block = html.split('id="hf-banners"')[1].split("</div>\n  \n")[0] if 'id="hf-banners"' in html else ""
    return re.findall(r'class="alert[^"]*hf-banner" role="alert" data-banner="([^"]+)"', block)


def panel(html: str) -> str:
    """The home page's Announcements panel."""
    if 'id="hf-announcements-panel"' not in html:
        return ""
    return html.split('id="hf-announcements-panel"')[1].split("</section>")[0]


async def create(s, **data):
    body = {"title": "Maintenance window", "body": "The hub restarts *tonight*.", "severity": "warning",
            "published": True}
    body.update(data)
    r = await s.api("POST", "/portal/announcements", data=json.dumps(body))
    assert r.status_code == 201, r.text
    return r.json()


async def test_members_see_only_announcements_for_their_groups(app):
    await make_user(app, "ann-admin", admin=True, groups=["ann-red"])
    await make_user(app, "ann-red-user", groups=["ann-red"])
    await make_user(app, "ann-blue-user", groups=["ann-blue"])
    admin = await login(app, "ann-admin")
    red = await create(admin, title="Red team only notice", audience=["ann-red"])
    everyone = await create(admin, title="Platform notice for all", audience="all")

    s = await login(app, "ann-blue-user")
    page = (await s.get("hub/home")).text
    assert "Platform notice for all" in page
    assert "Red team only notice" not in page
    titles = [a["title"] for a in (await s.api("GET", "/portal/announcements")).json()["announcements"]]
    assert titles == ["Platform notice for all"]
    assert (await s.api("GET", f"/portal/announcements/{red['id']}")).status_code == 404
    assert (await s.api("POST", f"/portal/announcements/{red['id']}/dismiss")).status_code == 404
    assert "Red team only notice" not in (await s.get("hub/portal/announcements")).text

    s = await login(app, "ann-red-user")
    page = (await s.get("hub/portal/about")).text
    assert f"announcement-{red['id']}" in banner_ids(page) and f"announcement-{everyone['id']}" in banner_ids(page)
    # home shows each announcement once: in its panel, not also as a banner
    home = (await s.get("hub/home")).text
    assert 'id="hf-announcements-panel"' in home and banner_ids(home) == []
    assert home.count("Red team only notice") == 1


async def test_only_admins_write(app):
    await make_user(app, "ann-plain", groups=["ann-p"])
    await make_user(app, "ann-boss", admin=True)
    s = await login(app, "ann-plain")
    r = await s.api("POST", "/portal/announcements", data=json.dumps({"title": "x"}))
    assert r.status_code == 403
    assert (await s.api("GET", "/portal/announcements?all=1")).status_code == 403
    assert (await s.post("hub/portal/announcements", {"action": "create", "title": "x"})).status_code == 403
    boss = await login(app, "ann-boss")
    r = await boss.api("POST", "/portal/announcements", xsrf=False, data=json.dumps({"title": "no token"}))
    assert r.status_code == 403
    r = await boss.post("hub/portal/announcements", {"action": "create", "title": "no token"}, xsrf=False)
    assert r.status_code == 403
    assert "no token" not in (await boss.api("GET", "/portal/announcements?all=1")).text
    a = await create(boss, title="Visible to the plain user")
    assert (await s.api("PUT", f"/portal/announcements/{a['id']}", data=json.dumps({"title": "hacked"}))).status_code == 403
    assert (await s.api("DELETE", f"/portal/announcements/{a['id']}")).status_code == 403


async def test_dismiss_is_remembered_and_edit_shows_it_again(app):
    await make_user(app, "ann-root", admin=True)
    await make_user(app, "ann-dora", groups=["ann-d"])
    admin = await login(app, "ann-root")
    a = await create(admin, title="Dismiss me", audience=["ann-d"])
    banner = f"announcement-{a['id']}"
    s = await login(app, "ann-dora")
    assert banner in banner_ids((await s.get("hub/portal/notebooks")).text)
    # dismissing is a state change: no XSRF token, no dismissal
    assert (await s.api("POST", f"/portal/announcements/{a['id']}/dismiss", xsrf=False)).status_code == 403
    assert banner in banner_ids((await s.get("hub/portal/notebooks")).text)
    assert (await s.api("POST", f"/portal/announcements/{a['id']}/dismiss")).status_code == 200
    assert banner not in banner_ids((await s.get("hub/portal/notebooks")).text)
    assert banner not in banner_ids((await s.get("hub/portal/about")).text)
    # a fresh login (new session) still remembers it
    s = await login(app, "ann-dora")
    assert banner not in banner_ids((await s.get("hub/portal/notebooks")).text)
    r = await admin.api("PUT", f"/portal/announcements/{a['id']}", data=json.dumps({"body": "Changed plans"}))
    assert r.status_code == 200 and r.json()["version"] == a["version"] + 1
    assert banner in banner_ids((await s.get("hub/portal/notebooks")).text)


async def test_script_in_the_body_is_never_rendered_as_markup(app):
    await make_user(app, "ann-x-admin", admin=True)
    await make_user(app, "ann-x-user", groups=["ann-x"])
    admin = await login(app, "ann-x-admin")
    await create(admin, title="<b>Bold title</b>", audience=["ann-x"],
                 body="Hello <script>window.pwned=1</script> <img src=x onerror=alert(1)> [c](javascript:alert(1))")
    s = await login(app, "ann-x-user")
    for path in ("hub/home", "hub/portal/announcements"):
        page = (await s.get(path)).text
        assert "<script>window.pwned" not in page and "<img src=x" not in page
        assert 'href="javascript' not in page
        assert "<b>Bold title</b>" not in page and "&lt;b&gt;Bold title&lt;/b&gt;" in page
        assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page  # shown as text, harmlessly


async def test_bad_input_names_the_field(app):
    await make_user(app, "ann-v-admin", admin=True)
    admin = await login(app, "ann-v-admin")
    r = await admin.api("POST", "/portal/announcements", data=json.dumps({"title": "t", "severity": "doom"}))
    assert r.status_code == 400 and "severity" in r.json()["errors"]
    r = await admin.api("POST", "/portal/announcements", data=json.dumps({"title": "t", "audience": ["ghost-group"]}))
    assert r.status_code == 400 and "audience" in r.json()["errors"]
    r = await admin.api("POST", "/portal/announcements", data="not json")
    assert r.status_code == 400
    r = await admin.post("hub/portal/announcements", {"action": "create", "title": "", "audience": "all"})
    assert r.status_code == 400 and "required" in r.text
    assert (await admin.api("PUT", "/portal/announcements/99999", data=json.dumps({"title": "x"}))).status_code == 404


async def test_admin_page_creates_publishes_unpublishes_and_deletes(app):
    await make_user(app, "ann-p-admin", admin=True)
    await make_user(app, "ann-p-user", groups=["ann-pg"])
    admin = await login(app, "ann-p-admin")
    r = await admin.post("hub/portal/announcements", {"action": "create", "title": "From the page",
                                                      "body": "x", "severity": "critical", "audience": "groups",
                                                      "groups": "ann-pg"})
    assert r.status_code == 200
    mine = [a for a in (await admin.api("GET", "/portal/announcements?all=1")).json()["announcements"]
            if a["title"] == "From the page"][0]
    assert mine["published"] is False and mine["audience"] == ["ann-pg"]
    user = await login(app, "ann-p-user")
    assert "From the page" not in (await user.get("hub/home")).text  # a draft
    await admin.post("hub/portal/announcements", {"action": "publish", "id": mine["id"]})
    assert "From the page" in panel((await user.get("hub/home")).text)
    # publishing is in the author's activities (members read it in the panel above)
    acts = (await admin.api("GET", "/portal/me/activities?group=ann-pg")).json()["activities"]
    assert acts[0]["kind"] == "announcement" and "From the page" in acts[0]["message"]
    await admin.post("hub/portal/announcements", {"action": "unpublish", "id": mine["id"]})
    home = (await user.get("hub/home")).text
    assert f"announcement-{mine['id']}" not in banner_ids(home) and "From the page" not in panel(home)
    await admin.post("hub/portal/announcements", {"action": "delete", "id": mine["id"]})
    assert (await admin.api("GET", f"/portal/announcements/{mine['id']}")).status_code == 404
