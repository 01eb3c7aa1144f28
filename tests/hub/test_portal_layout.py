"""Portal layout, home, group context and group policy on a MockHub."""

import json

from conftest_helpers import login, make_user  # noqa: F401


async def test_home_shows_group_dropdown_and_quickstart(app):
    await make_user(app, "lay-alice", groups=["lay-red", "lay-blue"])
    s = await login(app, "lay-alice")
    r = await s.get("hub/home")
    assert r.status_code == 200
    assert 'id="hf-group-dropdown"' in r.text
    assert 'data-group="lay-blue"' in r.text  # first group by name is in focus
    assert "User Guide / Quickstart" in r.text
    assert "lay-red" in r.text  # listed in the dropdown


async def test_user_without_group_sees_no_features(app):
    await make_user(app, "lay-lonely")
    s = await login(app, "lay-lonely")
    r = await s.get("hub/home")
    assert "No group available" in r.text
    assert "Please contact administrators." in r.text
    assert "User Guide / Quickstart" not in r.text
    assert 'class="nav-link"' not in r.text.split('id="hf-sidemenu"')[1].split("</nav>")[0]


async def test_switch_context_by_form_and_api(app):
    await make_user(app, "lay-bob", groups=["lay-x", "lay-y"])
    s = await login(app, "lay-bob")
    # an off-site "next" is ignored: the switch lands on home
    r = await s.post("hub/portal/context", {"group": "lay-y", "next": "//evil.example/"}, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("/hub/home")
    r = await s.get("hub/home")
    assert 'data-group="lay-y"' in r.text
    r = await s.api("GET", "/portal/me/context")
    assert r.json()["group"] == "lay-y"
    r = await s.api("PUT", "/portal/me/context", data=json.dumps({"group": "lay-x"}))
    assert r.status_code == 200 and r.json()["group"] == "lay-x"


async def test_switch_to_foreign_group_is_refused_and_changes_nothing(app):
    await make_user(app, "lay-carol", groups=["lay-c1", "lay-c2"])
    await make_user(app, "lay-dave", groups=["lay-secret"])
    s = await login(app, "lay-carol")
    await s.api("PUT", "/portal/me/context", data=json.dumps({"group": "lay-c2"}))
    r = await s.api("PUT", "/portal/me/context", data=json.dumps({"group": "lay-secret"}))
    assert r.status_code == 403
    r = await s.post("hub/portal/context", {"group": "lay-secret"})
    assert r.status_code == 403
    assert (await s.api("GET", "/portal/me/context")).json()["group"] == "lay-c2"


async def test_context_switch_requires_xsrf(app):
    await make_user(app, "lay-erin", groups=["lay-e1", "lay-e2"])
    s = await login(app, "lay-erin")
    r = await s.post("hub/portal/context", {"group": "lay-e2"}, xsrf=False)
    assert r.status_code == 403
    r = await s.api("PUT", "/portal/me/context", xsrf=False, data=json.dumps({"group": "lay-e2"}))
    assert r.status_code == 403
    assert (await s.api("GET", "/portal/me/context")).json()["group"] == "lay-e1"


async def test_context_put_without_group_names_the_field(app):
    await make_user(app, "lay-fay", groups=["lay-f"])
    s = await login(app, "lay-fay")
    r = await s.api("PUT", "/portal/me/context", data=json.dumps({}))
    assert r.status_code == 400 and "group" in r.json()["errors"]
    r = await s.api("PUT", "/portal/me/context", data="{not json")
    assert r.status_code == 400


async def test_policy_put_rejects_bad_memory_and_keeps_policy(app):
    await make_user(app, "lay-root", groups=["lay-p"], admin=True,
                    policies={"lay-p": {"quota": {"memory": "8Gi", "gpu": 2}}})
    s = await login(app, "lay-root")
    before = (await s.api("GET", "/portal/groups/lay-p/policy")).json()["policy"]
    assert before["quota"]["memory"] == 8 * 2**30
    r = await s.api("PUT", "/portal/groups/lay-p/policy", data=json.dumps({"quota": {"memory": "lots"}}))
    assert r.status_code == 400
    assert "memory" in r.json()["message"] and "quota.memory" in r.json()["errors"]
    after = (await s.api("GET", "/portal/groups/lay-p/policy")).json()["policy"]
    assert after == before


async def test_policy_put_accepts_quantities(app):
    await make_user(app, "lay-root2", groups=["lay-q"], admin=True)
    s = await login(app, "lay-root2")
    body = {"quota": {"cpu": "500m", "memory": "4096Mi", "gpu": 1}, "user_quota": {"memory": "4G"},
            "instance_types": ["cpu-small"], "default_instance_type": "cpu-small"}
    r = await s.api("PUT", "/portal/groups/lay-q/policy", data=json.dumps(body))
    assert r.status_code == 200, r.text
    policy = (await s.api("GET", "/portal/groups/lay-q/policy")).json()["policy"]
    assert policy["quota"] == {"cpu": 0.5, "memory": 4 * 2**30, "gpu": 1, "sessions": None, "storage": None}
    assert policy["user_quota"]["memory"] == 4 * 10**9


async def test_policy_put_rejects_unknown_instance_type(app):
    await make_user(app, "lay-root3", groups=["lay-r"], admin=True)
    s = await login(app, "lay-root3")
    r = await s.api("PUT", "/portal/groups/lay-r/policy", data=json.dumps({"instance_types": ["warp-drive"]}))
    assert r.status_code == 400 and "instance_types" in r.json()["errors"]


async def test_members_read_policy_but_cannot_write(app):
    await make_user(app, "lay-gus", groups=["lay-g"])
    await make_user(app, "lay-hal", groups=["lay-h"])
    s = await login(app, "lay-gus")
    assert (await s.api("GET", "/portal/groups/lay-g/policy")).status_code == 200
    r = await s.api("PUT", "/portal/groups/lay-g/policy", data=json.dumps({"quota": {"gpu": 99}}))
    assert r.status_code == 403
    # a group the user is not in is not visible at all
    assert (await s.api("GET", "/portal/groups/lay-h/policy")).status_code == 404


async def test_group_settings_page_only_for_group_admins(app):
    await make_user(app, "lay-ivy", groups=["lay-i"], policies={"lay-i": {"admins": ["lay-ivy"], "quota": {"gpu": 3}}})
    await make_user(app, "lay-jon", groups=["lay-i"])
    s = await login(app, "lay-ivy")
    home = await s.get("hub/home")
    assert "Group admin" in home.text
    r = await s.get("hub/portal/group-settings")
    assert r.status_code == 200 and "/hub/portal/admin/groups/lay-i" in r.text  # where its policy is set
    s2 = await login(app, "lay-jon")
    assert "Group admin" not in (await s2.get("hub/home")).text
    assert (await s2.get("hub/portal/group-settings")).status_code == 403


async def test_profile_menu_links(app):
    await make_user(app, "lay-kim", groups=["lay-k"])
    await make_user(app, "lay-boss", groups=["lay-k"], admin=True)
    page = (await (await login(app, "lay-kim")).get("hub/home")).text
    assert "API Token" in page and "/hub/token" in page and "Logout" in page
    assert "Admin Portal" not in page
    page = (await (await login(app, "lay-boss")).get("hub/home")).text
    assert "Admin Portal" in page and "/hub/admin" in page


async def test_wrong_password_is_refused(app):
    from jupyterhub.tests.utils import async_requests, public_url

    await make_user(app, "lay-mia", password="Right-pass1")
    base = public_url(app)
    r = await async_requests.get(base + "hub/login")
    cookies = dict(r.cookies)
    r = await async_requests.post(base + "hub/login", data={"username": "lay-mia", "password": "wrong",
                                  "_xsrf": cookies["_xsrf"]}, cookies=cookies, allow_redirects=False)
    assert r.status_code == 403
