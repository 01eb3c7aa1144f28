"""The Groups console (issue 24, requirement 1) on a MockHub whose notebooks really run (LocalGroupSpawner with
JupyterHub's tiny test server): groups created, renamed and deleted through the REST API, deletion refused while
a notebook server or a job runs in the group (naming it), the policy form's fields and the API's field errors,
members and group admins, and nobody's working group changing when a group is opened or joined."""

import asyncio
import json
import re

from jupyterhub import orm
from spawn_rig import configure_spawner, spawn, wait_ready

from conftest_helpers import login, make_user
from hub_ext import activity
from hub_ext.groups import find_group, group_policy
from hub_ext.settings import Hubfront

hub_config = configure_spawner  # instance types small, medium, gpu1; images base, tf, torch
API = "/portal/admin/groups"
PAGE = "hub/portal/admin/groups"


async def admin_in(app, name, groups=()):
    await make_user(app, name, admin=True, groups=list(groups))
    return await login(app, name)


async def context_of(session) -> str | None:
    r = await session.api("GET", "/portal/me/context")
    assert r.status_code == 200, r.text
    return r.json()["group"]


async def test_an_admin_in_no_group_creates_renames_lists_and_deletes_a_group(app):
    root = await admin_in(app, "ag-root")
    await make_user(app, "ag-outsider", groups=["ag-theirs"])  # a group the admin does not belong to
    r = await root.api("POST", API, json={"name": "ag-vision", "display_name": "Vision"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "ag-vision" and r.json()["members"] == []
    assert group_policy(find_group(app.db, "ag-vision")).display_name == "Vision"
    listed = {g["name"]: g for g in (await root.api("GET", API)).json()["groups"]}
    assert {"ag-vision", "ag-theirs"} <= set(listed)  # every group, members of it or not
    assert listed["ag-theirs"]["members"] == ["ag-outsider"]
    assert {u["resource"]: u["text"] for u in listed["ag-theirs"]["usage"]}["cpu"] == "0 / unlimited"
    page = (await root.get(PAGE)).text
    assert 'data-group="ag-theirs"' in page and "Vision" in page
    # the name is checked, taken or not; unknown fields are named; no XSRF, no change
    r = await root.api("POST", API, json={"name": "ag-vision"})
    assert r.status_code == 409 and "already exists" in r.json()["errors"]["name"]
    r = await root.api("POST", API, json={"name": "Vision Lab!", "colour": "red"})
    assert r.status_code == 400 and set(r.json()["errors"]) == {"name", "colour"}
    assert "lower-case letters" in r.json()["errors"]["name"]
    assert (await root.api("POST", API, xsrf=False, json={"name": "ag-sneaky"})).status_code == 403
    assert find_group(app.db, "ag-sneaky") is None
    # rename: the display name (the name stays)
    r = await root.api("PATCH", f"{API}/ag-vision", json={"display_name": "Vision Lab"})
    assert r.status_code == 200 and r.json()["display_name"] == "Vision Lab"
    r = await root.api("PATCH", f"{API}/ag-vision", json={"display_name": "x" * 129})
    assert r.status_code == 400 and "128" in r.json()["errors"]["display_name"]
    app.db.expire_all()
    assert group_policy(find_group(app.db, "ag-vision")).display_name == "Vision Lab"
    # the admin was not put into the group, and still has no working group
    assert await context_of(root) is None
    assert (await root.api("DELETE", f"{API}/ag-vision")).status_code == 204
    app.db.expire_all()
    assert find_group(app.db, "ag-vision") is None
    assert (await root.api("GET", f"{API}/ag-vision")).status_code == 404
    events = [(e.action, e.group) for e in activity.recent(Hubfront.instance().db_url, username="ag-root")]
    assert {("created", "ag-vision"), ("renamed", "ag-vision"), ("deleted", "ag-vision")} <= set(events)


async def test_only_hub_admins_use_the_console_api(app):
    await make_user(app, "ag-lead", groups=["ag-team"], policies={"ag-team": {"admins": ["ag-lead"]}})
    lead = await login(app, "ag-lead")  # a group admin, not a hub admin
    for method, path, body in [("GET", API, None), ("POST", API, {"name": "ag-mine"}),
                               ("PATCH", f"{API}/ag-team", {"display_name": "Mine"}),
                               ("DELETE", f"{API}/ag-team", None),
                               ("POST", f"{API}/ag-team/members", {"user": "ag-lead"})]:
        r = await lead.api(method, path, **({"json": body} if body is not None else {}))
        assert r.status_code == 403, (method, path, r.text)
    assert find_group(app.db, "ag-team") is not None and find_group(app.db, "ag-mine") is None


async def test_deleting_is_refused_while_a_notebook_or_a_job_runs_naming_each(app):
    root = await admin_in(app, "ag-boss")
    assert (await root.api("POST", API, json={"name": "ag-busy"})).status_code == 201
    assert (await root.api("POST", f"{API}/ag-busy/members", json={"user": "ag-boss"})).status_code == 201
    await make_user(app, "ag-nora")
    assert (await root.api("POST", f"{API}/ag-busy/members", json={"user": "ag-nora"})).status_code == 201
    # a notebook server really runs in the group
    assert (await spawn(app, "ag-nora", "ag-busy", instance_type="small")).status_code in (201, 202)
    await wait_ready(app, "ag-nora", "ag-busy")
    r = await root.api("DELETE", f"{API}/ag-busy")
    assert r.status_code == 409, r.text
    assert "notebook server of ag-nora" in r.json()["errors"]["group"]
    assert "running" in (await root.api("GET", f"{API}/ag-busy")).json() and \
        (await root.api("GET", f"{API}/ag-busy")).json()["running"] == ["notebook server of ag-nora"]
    await app.users["ag-nora"].stop("ag-busy")
    # a job waiting to run is about to hold resources: refused too, naming it
    job = await root.api("POST", "/portal/groups/ag-busy/jobs", json={"name": "ag-sleeper", "command": "sleep 300"})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    r = await root.api("DELETE", f"{API}/ag-busy")
    assert r.status_code == 409 and f"job {job_id} 'ag-sleeper' of ag-boss" in r.json()["errors"]["group"]
    assert "notebook server of" not in r.json()["errors"]["group"]  # the stopped server no longer counts
    app.db.expire_all()
    assert find_group(app.db, "ag-busy") is not None
    assert (await root.api("POST", f"/portal/jobs/{job_id}/cancel", json={})).status_code in (200, 202)
    for _ in range(240):  # cancelled at once while Pending; through the runner once started
        phase = (await root.api("GET", f"/portal/jobs/{job_id}")).json()["phase"]
        if phase in ("Cancelled", "Failed", "Succeeded"):
            break
        await asyncio.sleep(0.25)
    r = await root.api("DELETE", f"{API}/ag-busy")
    assert r.status_code == 204, r.text


def _slots(page: str) -> set[str]:
    return set(re.findall(r'data-error="([^"]+)"', page))


async def test_the_policy_form_edits_the_whole_policy_and_shows_the_apis_field_errors_at_their_fields(app):
    root = await admin_in(app, "ag-chief")
    assert (await root.api("POST", API, json={"name": "ag-form"})).status_code == 201
    page = (await root.get(f"{PAGE}/ag-form")).text
    form = page.split('id="hf-policy-console"')[1].split("</form>")[0]
    fields = set(re.findall(r'data-policy="([^"]+)"', form))
    assert {f"{q}.{r}" for q in ("quota", "user_quota") for r in ("cpu", "memory", "gpu", "sessions")} <= fields
    assert {"quota.storage", "instance_types", "images", "default_instance_type", "deployments_enabled",
            "deployments_max", "job_default_timeout", "mlflow_tracking_uri"} <= fields
    assert "resource_groups" not in fields  # one resource group on this machine: no choice to offer
    for name in ("small", "medium", "gpu1"):
        assert f'name="instance_types" value="{name}"' in form
    for name in ("base", "tf", "torch"):
        assert f'name="images" value="{name}"' in form
    # what the form sends (one PATCH …/policy): bad values come back named, each one has its place in the form
    bad = {"quota": {"cpu": "lots", "memory": "12 bananas", "storage": "-1Gi"}, "user_quota": {"gpu": "two"},
           "instance_types": ["small", "warp"], "images": ["base"], "job_default_timeout": "soon",
           "deployments_max": "-1", "mlflow_tracking_uri": "ftp://models"}
    r = await root.api("PATCH", "/portal/groups/ag-form/policy", json=bad)
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert {"quota.cpu", "quota.memory", "quota.storage", "user_quota.gpu", "job_default_timeout",
            "deployments_max", "mlflow_tracking_uri"} <= set(errors)
    assert set(errors) <= _slots(form), set(errors) - _slots(form)
    r = await root.api("PATCH", "/portal/groups/ag-form/policy",
                       json={"instance_types": ["small", "warp"], "default_instance_type": "gpu1"})
    assert r.status_code == 400 and "warp" in r.json()["errors"]["instance_types"]
    r = await root.api("PATCH", "/portal/groups/ag-form/policy",
                       json={"instance_types": ["small"], "default_instance_type": "gpu1"})
    assert r.status_code == 400 and "not an allowed instance type" in r.json()["errors"]["default_instance_type"]
    assert set(r.json()["errors"]) <= _slots(form)
    # a good one is stored whole, and the page shows it back
    good = {"quota": {"cpu": "8", "memory": "32Gi", "gpu": None, "sessions": "6", "storage": "100Gi"},
            "user_quota": {"cpu": "2", "memory": "8Gi", "gpu": None, "sessions": "2"},
            "instance_types": ["small", "medium"], "images": ["base", "torch"], "default_instance_type": "medium",
            "deployments_enabled": True, "deployments_max": "3", "job_default_timeout": "2h",
            "mlflow_tracking_uri": "http://mlflow.example.org:5000"}
    r = await root.api("PATCH", "/portal/groups/ag-form/policy", json=good)
    assert r.status_code == 200, r.text
    app.db.expire_all()
    policy = group_policy(find_group(app.db, "ag-form"))
    assert policy.instance_types == ["small", "medium"] and policy.images == ["base", "torch"]
    assert policy.default_instance_type == "medium" and policy.quota.memory == 32 * 2**30
    assert policy.user_quota.sessions == 2 and policy.job_default_timeout == 7200 and policy.deployments_max == 3
    page = (await root.get(f"{PAGE}/ag-form")).text
    assert re.search(r'name="quota.memory"[^>]*value="32Gi"', page)
    assert re.search(r'value="medium"\s+id="hf-p-instance_types-medium" checked', page)
    assert not re.search(r'value="gpu1"\s+id="hf-p-instance_types-gpu1" checked', page)
    summary = {g["name"]: g for g in (await root.api("GET", API)).json()["groups"]}["ag-form"]["summary"]
    assert "Instance types: small, medium" in summary and "Deployments: on, at most 3" in summary


async def test_a_group_admin_gets_the_form_with_the_reserved_fields_read_only(app):
    await make_user(app, "ag-gail", groups=["ag-own"], policies={"ag-own": {"admins": ["ag-gail"], "quota": {"cpu": 4}}})
    await make_user(app, "ag-mem", groups=["ag-own"])
    gail = await login(app, "ag-gail")
    page = (await gail.get(f"{PAGE}/ag-own")).text
    assert (await gail.get(PAGE)).status_code == 200  # their groups only
    form = page.split('id="hf-policy-console"')[1].split("</form>")[0]
    for field in ("quota.cpu", "instance_types", "default_instance_type", "deployments_max"):
        tag = re.search(rf'<[^>]*data-policy="{re.escape(field)}"[^>]*>', form).group(0)
        assert "data-readonly" in tag and "disabled" in tag, field
    for field in ("job_default_timeout", "mlflow_tracking_uri"):
        tag = re.search(rf'<[^>]*data-policy="{field}"[^>]*>', form).group(0)
        assert "data-readonly" not in tag and "disabled" not in tag, field
    assert 'id="hf-member-add"' not in page and 'data-user="ag-mem"' in page  # members shown, not changed
    # the API keeps the rule the form shows
    r = await gail.api("PATCH", "/portal/groups/ag-own/policy", json={"quota": {"cpu": "64"}})
    assert r.status_code == 403
    r = await gail.api("PATCH", "/portal/groups/ag-own/policy", json={"job_default_timeout": "3h"})
    assert r.status_code == 200, r.text
    # a member who is no group admin gets no console; a group of someone else is not theirs to see
    mem = await login(app, "ag-mem")
    assert (await mem.get(f"{PAGE}/ag-own")).status_code == 403
    assert (await mem.get(PAGE)).status_code == 403
    assert (await gail.get(f"{PAGE}/ag-theirs")).status_code == 404


async def test_members_and_group_admins_are_added_and_removed_and_nobodys_working_group_moves(app):
    # an admin working in ag-zeta (never chosen explicitly: the first of their groups by name)
    root = await admin_in(app, "ag-ada", groups=["ag-zeta"])
    assert await context_of(root) == "ag-zeta"
    for name in ("ag-alpha", "ag-beta"):
        assert (await root.api("POST", API, json={"name": name})).status_code == 201
    await make_user(app, "ag-bob", groups=["ag-zeta"])
    await make_user(app, "ag-newbie")
    bob = await login(app, "ag-bob")
    assert await context_of(bob) == "ag-zeta"
    # opening groups' pages changes nobody's working group
    for name in ("ag-alpha", "ag-beta", "ag-zeta"):
        assert (await root.get(f"{PAGE}/{name}")).status_code == 200
    assert await context_of(root) == "ag-zeta"
    # joining a group that sorts first switches nobody (the admin themselves, bob as a group admin)
    r = await root.api("POST", f"{API}/ag-alpha/members", json={"user": "ag-ada"})
    assert r.status_code == 201 and r.json()["members"] == ["ag-ada"]
    r = await root.api("POST", f"{API}/ag-alpha/members", json={"user": "ag-bob", "admin": True})
    assert r.status_code == 201 and r.json()["admins"] == ["ag-bob"]
    assert await context_of(root) == "ag-zeta" and await context_of(bob) == "ag-zeta"
    # someone who has not opened a page since joining ag-zeta: joining through the console keeps it too
    await make_user(app, "ag-carl", groups=["ag-zeta"])
    assert (await root.api("POST", f"{API}/ag-alpha/members", json={"user": "ag-carl"})).status_code == 201
    assert await context_of(await login(app, "ag-carl")) == "ag-zeta"
    # nor does JupyterHub's own group API (or its admin page, which uses it)
    assert (await root.api("POST", "/groups/ag-aardvark")).status_code == 201
    r = await root.api("POST", "/groups/ag-aardvark/users", json={"users": ["ag-ada", "ag-bob"]})
    assert r.status_code == 200, r.text
    assert await context_of(root) == "ag-zeta" and await context_of(bob) == "ag-zeta"
    # a user in no group gets the group they join as their working group
    assert (await root.api("POST", f"{API}/ag-beta/members", json={"user": "ag-newbie"})).status_code == 201
    assert await context_of(await login(app, "ag-newbie")) == "ag-beta"
    # Manage Users adds the same way
    r = await root.post("hub/portal/admin/users", {"action": "add_group", "username": "ag-bob", "group": "ag-beta"})
    assert r.status_code == 200 and await context_of(bob) == "ag-zeta"
    # the new group admin opens the group's form; the completion lists users not in it yet
    assert (await bob.get(f"{PAGE}/ag-alpha")).status_code == 200
    page = (await root.get(f"{PAGE}/ag-alpha")).text
    datalist = page.split('id="hf-user-names"')[1].split("</datalist>")[0]
    assert '"ag-newbie"' in datalist and '"ag-bob"' not in datalist
    # mistakes are named; a member twice is a conflict
    r = await root.api("POST", f"{API}/ag-alpha/members", json={"user": "ag-nobody"})
    assert r.status_code == 400 and "ag-nobody" in r.json()["errors"]["user"]
    r = await root.api("POST", f"{API}/ag-alpha/members", json={"user": "ag-ada"})
    assert r.status_code == 409 and "already a member" in r.json()["errors"]["user"]
    r = await root.api("POST", f"{API}/ag-alpha/members", json={"user": "ag-ada", "admin": "yes"})
    assert r.status_code == 400 and "admin" in r.json()["errors"]
    # admin role on and off, then out of the group (and off its admins)
    r = await root.api("PATCH", f"{API}/ag-alpha/members/ag-ada", json={"admin": True})
    assert r.status_code == 200 and r.json()["admins"] == ["ag-ada", "ag-bob"]
    r = await root.api("PATCH", f"{API}/ag-alpha/members/ag-bob", json={"admin": False})
    assert r.json()["admins"] == ["ag-ada"]
    assert (await bob.get(f"{PAGE}/ag-alpha")).status_code == 403
    r = await root.api("DELETE", f"{API}/ag-alpha/members/ag-ada")
    assert r.status_code == 200 and r.json() == {"group": "ag-alpha", "members": ["ag-bob", "ag-carl"], "admins": []}
    assert (await root.api("DELETE", f"{API}/ag-alpha/members/ag-ada")).status_code == 404
    app.db.expire_all()
    assert "ag-alpha" not in [g.name for g in orm.User.find(app.db, "ag-ada").groups]
    assert await context_of(root) == "ag-zeta"
    last = activity.recent(Hubfront.instance().db_url, username="ag-ada", limit=1)[0]
    assert last.action == "removed from group" and last.group == "ag-alpha" and "ag-ada" in last.message


async def test_the_console_is_in_the_admins_profile_menu_and_listed_in_the_api_document(app):
    root = await admin_in(app, "ag-menu")
    home = (await root.get("hub/home")).text
    menu = home.split('id="hf-profile-menu"')[1].split("</ul>")[0]
    assert re.search(r'href="[^"]*/hub/portal/admin/groups"[^>]*>.*Groups</a>', menu)
    doc = json.loads((await root.api("GET", "/portal/openapi.json")).text)
    assert {"/api/portal/admin/groups", "/api/portal/admin/groups/{group}", "/api/portal/admin/groups/{group}/members",
            "/api/portal/admin/groups/{group}/members/{user}"} <= set(doc["paths"])
