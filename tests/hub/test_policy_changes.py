"""Group policy changes on a MockHub: finite numbers, strict JSON, PATCH merges (what the Groups console's form
sends), and the Settings page that leads there."""

import json
import math
import re

from jupyterhub import orm

from conftest_helpers import login, make_user

RESEARCH = {"display_name": "Research", "instance_types": ["cpu-small", "cpu-medium"],
            "default_instance_type": "cpu-small", "quota": {"cpu": 16, "memory": "64Gi", "gpu": 4},
            "user_quota": {"cpu": 8}, "deployments_enabled": True, "deployments_max": 4}


def strict(text: str):
    """Parse as strict JSON: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise AssertionError(f"{constant} in a JSON answer: {text[:200]}")
    return json.loads(text, parse_constant=refuse)


async def setup(app, group):
    policy = {**RESEARCH, "admins": [f"{group}-ann"]}
    await make_user(app, f"{group}-root", admin=True, groups=[group], policies={group: policy})
    await make_user(app, f"{group}-ann", groups=[group])
    return await login(app, f"{group}-root")


async def policy_of(s, group):
    r = await s.api("GET", f"/portal/groups/{group}/policy")
    assert r.status_code == 200
    return strict(r.text)["policy"]


async def test_infinite_quota_is_refused_naming_the_field_and_nothing_is_stored(app):
    s = await setup(app, "pc-a")
    before = await policy_of(s, "pc-a")
    for method in ("PUT", "PATCH"):
        for body, field in [('{"quota": {"cpu": 1e999}}', "quota.cpu"),
                            ('{"quota": {"memory": 1e999}}', "quota.memory"),
                            ('{"user_quota": {"gpu": 1e999}}', "user_quota.gpu"),
                            ('{"job_default_timeout": 1e999}', "job_default_timeout"),
                            ('{"quota": {"cpu": 5000000}}', "quota.cpu"),
                            ('{"deployments_max": 99999999999999999999999}', "deployments_max")]:
            r = await s.api(method, "/portal/groups/pc-a/policy", data=body)
            assert r.status_code == 400, (method, body, r.text)
            assert field in strict(r.text)["errors"], (method, body, r.text)
        r = await s.api(method, "/portal/groups/pc-a/policy", data='{"quota": {"cpu": Infinity}}')
        assert r.status_code == 400 and "Infinity is not JSON" in r.json()["message"]
    assert await policy_of(s, "pc-a") == before
    usage = await s.api("GET", "/portal/groups/pc-a/usage")
    assert usage.status_code == 200
    strict(usage.text)


async def test_a_non_finite_value_stored_around_the_portal_never_reaches_a_json_answer(app):
    s = await setup(app, "pc-b")
    group = orm.Group.find(app.db, "pc-b")
    # what the hub's own group API would store from {"hubfront": {"quota": {"cpu": 1e999}}}
    group.properties = {"hubfront": {**group.properties["hubfront"], "quota": {"cpu": math.inf}}}
    app.db.commit()
    policy = await policy_of(s, "pc-b")
    assert policy["quota"]["cpu"] == 0  # an invalid stored policy reads as the most restrictive one
    strict((await s.api("GET", "/portal/groups/pc-b/usage")).text)
    assert (await s.get("hub/portal/group-settings")).status_code == 200


async def test_patch_changes_only_what_it_names(app):
    s = await setup(app, "pc-c")
    r = await s.api("PATCH", "/portal/groups/pc-c/policy", data=json.dumps({"quota": {"cpu": 32}}))
    assert r.status_code == 200, r.text
    policy = await policy_of(s, "pc-c")
    assert policy["quota"]["cpu"] == 32 and policy["quota"]["gpu"] == 4 and policy["quota"]["memory"] == 64 * 2**30
    assert policy["display_name"] == "Research" and policy["admins"] == ["pc-c-ann"]
    assert policy["instance_types"] == ["cpu-small", "cpu-medium"] and policy["deployments_max"] == 4
    assert strict(r.text)["policy"] == policy
    # null resets one field to its default; the {"policy": ...} wrapper is accepted as for PUT
    r = await s.api("PATCH", "/portal/groups/pc-c/policy", data=json.dumps({"policy": {"deployments_max": None}}))
    assert r.status_code == 200
    policy = await policy_of(s, "pc-c")
    assert policy["deployments_max"] is None and policy["display_name"] == "Research"
    # bad and unknown fields: 400 naming each, nothing written
    r = await s.api("PATCH", "/portal/groups/pc-c/policy",
                    data=json.dumps({"quota": {"warp": 1}, "colour": "red", "admins": "pc-c-ann"}))
    assert r.status_code == 400
    assert set(r.json()["errors"]) == {"quota.warp", "colour", "admins"}
    r = await s.api("PATCH", "/portal/groups/pc-c/policy", data=json.dumps({"instance_types": ["warp-drive"]}))
    assert r.status_code == 400 and "instance_types" in r.json()["errors"]
    assert await policy_of(s, "pc-c") == policy


async def test_put_stays_a_full_replace(app):
    s = await setup(app, "pc-d")
    r = await s.api("PUT", "/portal/groups/pc-d/policy", data=json.dumps({"quota": {"cpu": 2}}))
    assert r.status_code == 200
    policy = await policy_of(s, "pc-d")
    assert policy["quota"] == {"cpu": 2, "memory": None, "gpu": None, "sessions": None, "storage": None}
    assert policy["display_name"] == "" and policy["admins"] == []  # documented: PUT replaces everything


async def test_only_hub_admins_patch_and_only_with_xsrf(app):
    s = await setup(app, "pc-e")
    member = await login(app, "pc-e-ann")  # a group admin, but not a hub admin
    r = await member.api("PATCH", "/portal/groups/pc-e/policy", data=json.dumps({"quota": {"gpu": 99}}))
    assert r.status_code == 403
    r = await s.api("PATCH", "/portal/groups/pc-e/policy", xsrf=False, data=json.dumps({"quota": {"gpu": 99}}))
    assert r.status_code == 403
    assert (await policy_of(s, "pc-e"))["quota"]["gpu"] == 4
    r = await s.api("PATCH", "/portal/groups/pc-none/policy", data=json.dumps({"quota": {"gpu": 1}}))
    assert r.status_code == 404


CONSOLE = "hub/portal/admin/groups"


def console_values(page: str) -> dict[str, str]:
    """The Groups console's policy form as the page fills it in: each input's policy field and value."""
    form = page.split('id="hf-policy-console"')[1].split("</form>")[0].replace("\n", " ")
    return {field: value for tag in re.findall(r"<input[^>]*>", form)
            for field, value in re.findall(r'data-policy="([^"]+)"[^>]*?value="([^"]*)"', tag)}


async def test_the_console_form_shows_the_stored_policy_and_a_patch_of_some_fields_keeps_the_rest(app):
    s = await setup(app, "pc-f")
    values = console_values((await s.get(f"{CONSOLE}/pc-f")).text)
    assert values["quota.memory"] == "64Gi" and values["quota.sessions"] == "" and values["user_quota.cpu"] == "8"
    before = await policy_of(s, "pc-f")
    # what the form sends for the quotas it changes (strings as typed, empty: unlimited)
    r = await s.api("PATCH", "/portal/groups/pc-f/policy",
                    data=json.dumps({"quota": {"cpu": "24", "storage": "50Gi"}, "user_quota": {"sessions": "3"}}))
    assert r.status_code == 200, r.text
    after = await policy_of(s, "pc-f")
    assert after["quota"]["cpu"] == 24 and after["user_quota"]["sessions"] == 3
    assert after["quota"]["storage"] == 50 * 2**30 and after["quota"]["gpu"] == 4
    assert {k: v for k, v in after.items() if k not in ("quota", "user_quota")} == \
        {k: v for k, v in before.items() if k not in ("quota", "user_quota")}
    assert console_values((await s.get(f"{CONSOLE}/pc-f")).text)["quota.storage"] == "50Gi"
    # a change of one field changes that field only
    r = await s.api("PATCH", "/portal/groups/pc-f/policy", data=json.dumps({"display_name": "Research lab"}))
    assert r.status_code == 200
    assert await policy_of(s, "pc-f") == {**after, "display_name": "Research lab"}


async def test_what_the_console_sends_is_refused_naming_each_field_and_nothing_is_stored(app):
    s = await setup(app, "pc-g")
    before = await policy_of(s, "pc-g")
    r = await s.api("PATCH", "/portal/groups/pc-g/policy",
                    data=json.dumps({"quota": {"cpu": "1e999", "gpu": "lots", "storage": "plenty"},
                                     "display_name": "Not kept"}))
    assert r.status_code == 400
    assert {"quota.cpu", "quota.gpu", "quota.storage"} <= set(r.json()["errors"])
    assert await policy_of(s, "pc-g") == before


async def test_the_settings_page_leads_group_and_hub_admins_to_the_groups_console(app):
    s = await setup(app, "pc-h")
    group_admin = await login(app, "pc-h-ann")
    for who in (s, group_admin):
        await who.api("PUT", "/portal/me/context", data=json.dumps({"group": "pc-h"}))
        page = (await who.get("hub/portal/group-settings")).text
        link = re.search(r'<a [^>]*href="([^"]+)"[^>]*id="hf-open-console"', page)
        assert link and link.group(1).endswith("/hub/portal/admin/groups/pc-h"), page
        assert re.search(r"Edit this group(&#39;|')s policy in the Groups console", page)
        assert "<form" not in page.split('id="hf-policy-form"')[1]  # no policy form of its own any more
        assert (await who.get(f"{CONSOLE}/pc-h")).status_code == 200
    assert "default job timeout and MLflow tracking URI" in (await group_admin.get("hub/portal/group-settings")).text
    # nothing is changed through the Settings page any more
    r = await s.post("hub/portal/group-settings", {"group": "pc-h", "quota.gpu": "99"})
    assert r.status_code == 405
    assert (await policy_of(s, "pc-h"))["quota"]["gpu"] == 4


async def test_group_admins_set_the_default_job_timeout_and_nothing_else(app):
    s = await setup(app, "pc-t")
    await make_user(app, "pc-t-mia", groups=["pc-t"])  # a plain member
    group_admin = await login(app, "pc-t-ann")
    r = await group_admin.api("PATCH", "/portal/groups/pc-t/policy", data=json.dumps({"job_default_timeout": "2h"}))
    assert r.status_code == 200, r.text
    assert (await policy_of(s, "pc-t"))["job_default_timeout"] == 7200
    r = await group_admin.api("PATCH", "/portal/groups/pc-t/policy",
                              data=json.dumps({"job_default_timeout": "1h", "quota": {"gpu": 99}}))
    assert r.status_code == 403 and "quota" in r.json()["message"]
    member = await login(app, "pc-t-mia")
    r = await member.api("PATCH", "/portal/groups/pc-t/policy", data=json.dumps({"job_default_timeout": "1m"}))
    assert r.status_code == 403
    policy = await policy_of(s, "pc-t")
    assert policy["job_default_timeout"] == 7200 and policy["quota"]["gpu"] == 4
    # the Groups console's form: this field editable for the group's admins, shown as stored
    page = (await group_admin.get(f"{CONSOLE}/pc-t")).text
    assert console_values(page)["job_default_timeout"] == "2h"
    tag = re.search(r'<input[^>]*data-policy="job_default_timeout"[^>]*>', page).group(0)
    assert "disabled" not in tag
    r = await group_admin.api("PATCH", "/portal/groups/pc-t/policy", data=json.dumps({"job_default_timeout": "soon"}))
    assert r.status_code == 400 and "job_default_timeout" in r.json()["errors"]
    assert (await policy_of(s, "pc-t"))["job_default_timeout"] == 7200


async def test_fields_beside_policy_are_refused_not_dropped(app):
    s = await setup(app, "pc-u")
    before = await policy_of(s, "pc-u")
    for method in ("PUT", "PATCH"):
        r = await s.api(method, "/portal/groups/pc-u/policy",
                        data=json.dumps({"policy": {"display_name": "X"}, "quota": {"cpu": 1}}))
        assert r.status_code == 400 and "quota" in r.json()["errors"], r.text
    assert await policy_of(s, "pc-u") == before
