"""Group images on a MockHub: group admins add them, members see them, other groups never do."""

import json

from jupyterhub import orm

from conftest_helpers import login, make_user
from hub_ext.activity import recent
from hub_ext.groups import group_policy
from hub_ext.settings import Hubfront
from spawner.form import render_options_form

ADD = {"name": "team-img", "display_name": "Team image", "description": "With cowsay",
       "image": "quay.io/jupyter/base-notebook:2024-05-27", "packages": {"pip": ["cowsay==6.1"]}}


async def setup(app, g):
    await make_user(app, f"{g}-boss", groups=[g], policies={g: {"admins": [f"{g}-boss"]}})
    await make_user(app, f"{g}-mem", groups=[g])
    await make_user(app, f"{g}-out", groups=[f"{g}-other"], policies={f"{g}-other": {}})
    return await login(app, f"{g}-boss"), await login(app, f"{g}-mem"), await login(app, f"{g}-out")


def spawn_form(app, group):
    orm_group = orm.Group.find(app.db, group)
    app.db.refresh(orm_group)
    return render_options_form(group=group, policy=group_policy(orm_group), catalog=Hubfront.instance().catalog,
                               shortfalls={}, selected={})


async def test_added_image_is_the_groups_only(app):
    boss, member, outsider = await setup(app, "gi-a")
    api = "/portal/groups/gi-a/images"
    r = await boss.api("POST", api, data=json.dumps(ADD))
    assert r.status_code == 201, r.text
    assert r.json()["packages"]["pip"] == ["cowsay==6.1"]
    listed = (await member.api("GET", api)).json()["images"]
    assert listed[0]["name"] == "team-img" and listed[0]["source"] == "group"
    assert any(im["source"] == "catalog" for im in listed)
    assert (await member.api("GET", api + "/team-img")).json()["display_name"] == "Team image"
    # usable at once in the group's spawn form and job form; never in another group's
    assert 'value="team-img"' in spawn_form(app, "gi-a")
    assert 'value="team-img"' not in spawn_form(app, "gi-a-other")
    policy = group_policy(orm.Group.find(app.db, "gi-a"))
    assert "team-img" in {im.name for im in policy.allowed_images(Hubfront.instance().catalog)}
    await member.api("PUT", "/portal/me/context", data=json.dumps({"group": "gi-a"}))
    assert 'value="team-img"' in (await member.get("hub/portal/jobs")).text
    assert 'value="team-img"' not in (await outsider.get("hub/portal/jobs")).text
    # another group's members: 404, as if it did not exist
    assert (await outsider.api("GET", api)).status_code == 404
    assert (await outsider.api("GET", api + "/team-img")).status_code == 404
    assert (await outsider.api("DELETE", api + "/team-img")).status_code == 404
    assert (await outsider.api("GET", "/portal/groups/gi-a-other/images/team-img")).status_code == 404
    # plain members do not add, change or remove
    assert (await member.api("POST", api, data=json.dumps({**ADD, "name": "mine"}))).status_code == 403
    assert (await member.api("PATCH", api + "/team-img", data='{"description": "x"}')).status_code == 403
    assert (await member.api("DELETE", api + "/team-img")).status_code == 403
    # change, then remove; each is an activity
    r = await boss.api("PATCH", api + "/team-img", data=json.dumps({"description": "Changed"}))
    assert r.status_code == 200 and r.json()["description"] == "Changed" and r.json()["image"] == ADD["image"]
    assert (await boss.api("DELETE", api + "/team-img")).status_code == 204
    assert (await boss.api("GET", api + "/team-img")).status_code == 404
    assert 'value="team-img"' not in spawn_form(app, "gi-a")
    actions = [(a.kind, a.action, a.workload_id) for a in recent(Hubfront.instance().db_url, group="gi-a")]
    for action in ("added", "changed", "deleted"):
        assert ("image", action, "team-img") in actions


async def test_bad_input_names_the_field(app):
    boss, _, _ = await setup(app, "gi-b")
    api = "/portal/groups/gi-b/images"
    r = await boss.api("POST", api, data=json.dumps({**ADD, "packages": {"pip": ["numpy", "numpy>>1"]}}))
    assert r.status_code == 400
    assert "'numpy>>1' is not a valid pip requirement" in r.json()["errors"]["packages.pip.1"]
    r = await boss.api("POST", api, data=json.dumps({**ADD, "colour": "red", "name": "No Good"}))
    assert r.status_code == 400 and {"colour", "name"} <= set(r.json()["errors"])
    r = await boss.api("POST", api, data=json.dumps({**ADD, "packages": {"apt": ["curl"]}}))
    assert r.status_code == 400 and "embedded mode" in r.json()["errors"]["packages.apt"]
    catalog_name = Hubfront.instance().catalog.images[0].name
    r = await boss.api("POST", api, data=json.dumps({**ADD, "name": catalog_name}))
    assert r.status_code == 409 and "catalog" in r.json()["errors"]["name"]
    assert (await boss.api("POST", api, data=json.dumps(ADD))).status_code == 201
    r = await boss.api("POST", api, data=json.dumps(ADD))
    assert r.status_code == 409 and "name" in r.json()["errors"]
    r = await boss.api("PATCH", api + "/team-img", data=json.dumps({"name": "renamed"}))
    assert r.status_code == 400 and r.json()["errors"]["name"] == "unknown field"
    assert [im["name"] for im in (await boss.api("GET", api)).json()["images"]].count("team-img") == 1


async def test_images_page_for_group_admins(app):
    boss, member, _ = await setup(app, "gi-c")
    await boss.api("POST", "/portal/groups/gi-c/images", data=json.dumps(ADD))
    await boss.api("PUT", "/portal/me/context", data=json.dumps({"group": "gi-c"}))
    page = await boss.get("hub/portal/images")
    assert page.status_code == 200 and "Team image" in page.text and "Add image" in page.text
    assert 'href="' in page.text and "portal/images" in (await boss.get("hub/home")).text
    await member.api("PUT", "/portal/me/context", data=json.dumps({"group": "gi-c"}))
    assert (await member.get("hub/portal/images")).status_code == 403


async def test_the_images_page_shows_what_runs_on_this_machine(app):
    """Issue 24: on the embedded default an image runs as a local Python environment, so the Images page
    lists that, not the catalog's container references (quay.io/…), which only Kubernetes pulls."""
    import html
    import re
    import sys

    boss, _, _ = await setup(app, "gi-p")
    assert (await boss.api("POST", "/portal/groups/gi-p/images", data=json.dumps(ADD))).status_code == 201
    page = (await boss.get("hub/portal/images")).text
    python = f"Python {sys.version_info.major}.{sys.version_info.minor} (the hub's own)"
    rows = {name: html.unescape(text) for name, text in re.findall(r'<tr class="hf-image-row" data-name="([^"]+)".*?<td class="small hf-image-runs">([^<]*)</td>',
                           page, re.S)}
    catalog = Hubfront.instance().catalog
    assert rows["team-img"] == f"{python} + cowsay==6.1"
    for image in catalog.images:
        packages = ", ".join(image.local.packages)
        assert rows[image.name] == (f"{python} + {packages}" if packages else python), image.name
    assert "quay.io" not in page.split('id="hf-images"')[1].split("</table>")[0]  # the table names no container
    assert any(im.image and "quay.io" in im.image for im in catalog.images)  # though the catalog has them
