"""Group policy changes on a MockHub: finite numbers, strict JSON, PATCH merges, the Settings form."""

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


def form_fields(page: str) -> dict[str, str]:
    """The Settings page's edit form as a browser would submit it."""
    form = page.split('id="hf-policy-form"')[1].split("</form>")[0]
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)" value="([^"]*)"', form.replace("\n", " ")))
    for name, body in re.findall(r'<select[^>]*name="([^"]+)">(.*?)</select>', form, re.S):
        fields[name] = re.search(r'<option value="([^"]*)" selected', body).group(1)
    return fields


async def test_settings_form_saves_what_it_shows_and_keeps_the_rest(app):
    s = await setup(app, "pc-f")
    await s.api("PUT", "/portal/me/context", data=json.dumps({"group": "pc-f"}))
    page = (await s.get("hub/portal/group-settings")).text
    fields = form_fields(page)
    assert fields["group"] == "pc-f" and fields["quota.memory"] == "64Gi" and fields["quota.sessions"] == ""
    assert "instance_types" not in fields  # not shown, so not sent: the merge keeps it
    before = await policy_of(s, "pc-f")
    fields.update({"quota.cpu": "24", "user_quota.sessions": "3", "quota.storage": "50Gi"})
    r = await s.post("hub/portal/group-settings", fields, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("portal/group-settings?saved=1")
    after = await policy_of(s, "pc-f")
    assert after["quota"]["cpu"] == 24 and after["user_quota"]["sessions"] == 3
    assert after["quota"]["storage"] == 50 * 2**30
    assert "<td>Storage</td><td>50 GiB</td>" in (await s.get("hub/portal/group-settings")).text
    assert {k: v for k, v in after.items() if k not in ("quota", "user_quota")} == \
        {k: v for k, v in before.items() if k not in ("quota", "user_quota")}
    assert "Policy saved." in (await s.get("hub/portal/group-settings?saved=1")).text
    # a form that sends one field changes that field only
    r = await s.post("hub/portal/group-settings", {"group": "pc-f", "display_name": "Research lab"},
                     allow_redirects=False)
    assert r.status_code == 302
    latest = await policy_of(s, "pc-f")
    assert latest == {**after, "display_name": "Research lab"}


async def test_settings_form_refuses_bad_values_naming_the_field(app):
    s = await setup(app, "pc-g")
    await s.api("PUT", "/portal/me/context", data=json.dumps({"group": "pc-g"}))
    before = await policy_of(s, "pc-g")
    r = await s.post("hub/portal/group-settings", {"group": "pc-g", "quota.cpu": "1e999", "quota.gpu": "lots",
                                                   "quota.storage": "plenty", "display_name": "Kept in the form"})
    assert r.status_code == 400
    assert "quota.cpu: " in r.text and "quota.gpu: " in r.text and "quota.storage: " in r.text
    assert 'value="Kept in the form"' in r.text and 'value="lots"' in r.text  # nothing typed is lost
    assert await policy_of(s, "pc-g") == before


async def test_settings_form_is_for_hub_admins_with_xsrf(app):
    s = await setup(app, "pc-h")
    group_admin = await login(app, "pc-h-ann")
    await group_admin.api("PUT", "/portal/me/context", data=json.dumps({"group": "pc-h"}))
    page = (await group_admin.get("hub/portal/group-settings")).text
    assert "hf-group-quota" in page and 'id="hf-policy-form"' not in page  # group admins read, hub admins change
    r = await group_admin.post("hub/portal/group-settings", {"group": "pc-h", "quota.gpu": "99"})
    assert r.status_code == 403
    r = await s.post("hub/portal/group-settings", {"group": "pc-h", "quota.gpu": "99"}, xsrf=False)
    assert r.status_code == 403
    r = await s.post("hub/portal/group-settings", {"group": "pc-nowhere", "quota.gpu": "99"})
    assert r.status_code == 404
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
    # the Settings page: a form with this one field for the group's admins
    await group_admin.api("PUT", "/portal/me/context", data=json.dumps({"group": "pc-t"}))
    page = (await group_admin.get("hub/portal/group-settings")).text
    assert 'name="job_default_timeout" value="2h"' in page and 'id="hf-policy-form"' not in page
    r = await group_admin.post("hub/portal/group-settings", {"group": "pc-t", "job_default_timeout": "45m"},
                               allow_redirects=False)
    assert r.status_code == 302
    assert (await policy_of(s, "pc-t"))["job_default_timeout"] == 2700
    r = await group_admin.post("hub/portal/group-settings", {"group": "pc-t", "job_default_timeout": "soon"})
    assert r.status_code == 400 and "job_default_timeout" in r.text and 'value="soon"' in r.text
    assert (await policy_of(s, "pc-t"))["job_default_timeout"] == 2700


async def test_fields_beside_policy_are_refused_not_dropped(app):
    s = await setup(app, "pc-u")
    before = await policy_of(s, "pc-u")
    for method in ("PUT", "PATCH"):
        r = await s.api(method, "/portal/groups/pc-u/policy",
                        data=json.dumps({"policy": {"display_name": "X"}, "quota": {"cpu": 1}}))
        assert r.status_code == 400 and "quota" in r.json()["errors"], r.text
    assert await policy_of(s, "pc-u") == before
