"""Image builds' REST API on a MockHub (no runner here: builds stay Pending until the test says how
they ended): group admins ask, cancel, rebuild; members read builds and logs; other groups get 404;
an image still building is offered disabled and refused when asked for; a succeeded build is used."""

import json

from jupyterhub import orm
from sqlalchemy import update

from conftest_helpers import login, make_user
from hub_ext.activity import recent
from hub_ext.groups import group_policy
from hub_ext.images.resolve import resolved_policy
from hub_ext.jobs import logs as logs_mod
from hub_ext.settings import Hubfront
from hub_ext.store import session_scope
from hub_ext.store.models_images import ImageBuild
from spawner.form import render_options_form
from spawner.plan import LaunchRefused, resolve


def hub_config(cfg, data):
    cfg.Runner.max_concurrent_builds = 0  # builds wait: the test says how they end


async def setup(app, g):
    await make_user(app, f"{g}-boss", groups=[g], policies={g: {"admins": [f"{g}-boss"]}})
    await make_user(app, f"{g}-mem", groups=[g])
    await make_user(app, f"{g}-out", groups=[f"{g}-other"], policies={f"{g}-other": {}})
    return await login(app, f"{g}-boss"), await login(app, f"{g}-mem"), await login(app, f"{g}-out")


def usable(app, group):
    orm_group = orm.Group.find(app.db, group)
    app.db.refresh(orm_group)
    return resolved_policy(group_policy(orm_group), group, Hubfront.instance().db_url)


def set_phase(build_id, phase):
    with session_scope(Hubfront.instance().db_url) as s:
        s.execute(update(ImageBuild).where(ImageBuild.id == build_id).values(phase=phase))


def build_id(group, image, number):
    from hub_ext.images.builds import get

    return get(Hubfront.instance().db_url, group, image, number).id


async def test_build_lifecycle_and_who_sees_what(app):
    boss, member, outsider = await setup(app, "ib-a")
    catalog = Hubfront.instance().catalog
    base = catalog.images[0].name
    api = "/portal/groups/ib-a/images/cows/builds"
    body = {"base": base, "packages": {"pip": ["cowsay==6.1"]}, "display_name": "Cows"}
    r = await boss.api("POST", api, data=json.dumps(body))
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["number"], first["phase"], first["queue_position"]) == (1, "Pending", 1)
    assert first["packages"]["pip"] == ["cowsay==6.1"] and first["ref"]
    # the group image exists at once, offered disabled, refused when asked for
    form = render_options_form(group="ib-a", policy=usable(app, "ib-a"), catalog=catalog, shortfalls={}, selected={})
    assert 'data-unavailable="1" disabled' in form and "Cows (building — not yet available)" in form
    try:
        resolve(server_name="ib-a", options={"image": "cows"}, group_names=["ib-a"],
                policies={"ib-a": usable(app, "ib-a")}, catalog=catalog)
    except LaunchRefused as exc:
        assert exc.status == 400 and "building — not yet available" in exc.message
    else:
        raise AssertionError("an image still building was launched")
    await member.api("PUT", "/portal/me/context", data=json.dumps({"group": "ib-a"}))
    r = await member.api("POST", "/portal/groups/ib-a/jobs",
                         data=json.dumps({"name": "j", "command": "true", "image": "cows"}))
    assert r.status_code == 400 and "not yet available" in r.json()["errors"]["image"], r.text
    # members read builds and logs; other groups: 404; members do not build, cancel or rebuild
    assert [b["number"] for b in (await member.api("GET", api)).json()["builds"]] == [1]
    assert (await member.api("GET", api + "/1")).json()["phase"] == "Pending"
    assert (await member.api("POST", api, data=json.dumps(body))).status_code == 403
    assert (await member.api("POST", api + "/1/cancel")).status_code == 403
    for method, path in (("GET", api), ("GET", api + "/1"), ("GET", api + "/1/log"), ("POST", api),
                         ("POST", api + "/1/cancel"), ("POST", api + "/1/rebuild")):
        r = await outsider.api(method, path, data=json.dumps(body) if path == api and method == "POST" else None)
        assert r.status_code == 404, (method, path, r.status_code)
    assert (await boss.api("GET", api + "/9")).status_code == 404
    assert (await boss.api("GET", api + "/x")).status_code == 404
    # the log, kept in the DB, read from an offset
    with session_scope(Hubfront.instance().db_url) as s:
        logs_mod.append(s, build_id("ib-a", "cows", 1), 0, b"Collecting cowsay==6.1\n", 2**20, owner=logs_mod.BUILDS)
    r = await member.api("GET", api + "/1/log")
    assert r.text == "Collecting cowsay==6.1\n" and r.headers["X-Log-Offset"] == "23"
    assert (await member.api("GET", api + "/1/log?offset=11")).text == "cowsay==6.1\n"
    # cancel a Pending build; cancelling it again is 409; rebuild is the next number, same ref
    r = await boss.api("POST", api + "/1/cancel")
    assert r.status_code == 202 and r.json()["phase"] == "Cancelled"
    assert (await boss.api("POST", api + "/1/cancel")).status_code == 409
    r = await boss.api("POST", api + "/1/rebuild")
    assert r.status_code == 201 and r.json()["number"] == 2 and r.json()["ref"] == first["ref"]
    # succeeded: the image is usable, as what the build made; a later failure changes nothing
    set_phase(build_id("ib-a", "cows", 2), "Succeeded")
    r = await boss.api("POST", api, data=json.dumps({**body, "packages": {"pip": ["no-such-package-hf"]}}))
    set_phase(build_id("ib-a", "cows", r.json()["number"]), "Failed")
    [image] = [im for im in usable(app, "ib-a").group_images if im.name == "cows"]
    assert not image.unavailable and "cowsay==6.1" in image.local.packages
    assert "no-such-package-hf" not in image.local.packages
    form = render_options_form(group="ib-a", policy=usable(app, "ib-a"), catalog=catalog, shortfalls={}, selected={})
    assert 'data-unavailable="1"' not in form and 'value="cows"' in form
    assert 'value="cows"' not in render_options_form(group="ib-a-other", policy=usable(app, "ib-a-other"),
                                                     catalog=catalog, shortfalls={}, selected={})
    actions = [(a.action, a.workload_id) for a in recent(Hubfront.instance().db_url, group="ib-a")]
    assert ("build requested", "cows#1") in actions and ("build cancelled", "cows#1") in actions
    assert ("build requested", "cows#2") in actions
    # removing the image forgets its builds: the name is free for another image
    assert (await boss.api("DELETE", "/portal/groups/ib-a/images/cows")).status_code == 204
    assert (await member.api("GET", api)).json()["builds"] == []


async def test_bad_builds_name_the_field(app):
    boss, _, _ = await setup(app, "ib-b")
    base = Hubfront.instance().catalog.images[0].name
    api = "/portal/groups/ib-b/images/cows/builds"
    r = await boss.api("POST", api, data=json.dumps({"base": base, "packages": {"pip": ["numpy>>1"]}}))
    assert r.status_code == 400 and "'numpy>>1'" in r.json()["errors"]["packages.pip.0"]
    r = await boss.api("POST", api, data=json.dumps({"base": base, "packages": {"apt": ["curl"]}}))
    assert r.status_code == 400 and "embedded mode" in r.json()["errors"]["packages.apt"]
    r = await boss.api("POST", api, data=json.dumps({"base": "nope", "packages": {"pip": ["a"]}, "x": 1}))
    assert r.status_code == 400 and set(r.json()["errors"]) == {"x"}
    r = await boss.api("POST", api, data=json.dumps({"base": "nope", "packages": {"pip": ["a"]}}))
    assert r.status_code == 400 and "base" in r.json()["errors"]
    r = await boss.api("POST", "/portal/groups/ib-b/images/Bad_Name/builds",
                       data=json.dumps({"base": base, "packages": {"pip": ["a"]}}))
    assert r.status_code == 400 and "image" in r.json()["errors"]
    r = await boss.api("POST", f"/portal/groups/ib-b/images/{base}/builds",
                       data=json.dumps({"base": base, "packages": {"pip": ["a"]}}))
    assert r.status_code == 409
    # nothing was stored for refused requests
    assert (await boss.api("GET", api)).json()["builds"] == []
    assert "cows" not in {im.name for im in usable(app, "ib-b").group_images}
