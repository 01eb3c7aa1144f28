"""Folder invitations through the REST API and pages on a MockHub: folders, invite, accept/decline,
permission changes, revoke, leave; field errors, 404s for other people's invitations, XSRF;
activities; the home's Invitations panel and Start menu."""

from __future__ import annotations

import json

from conftest_helpers import login, make_user

from hub_ext import activity
from hub_ext.settings import Hubfront


def body(r):
    return r.json()


async def test_folders_invitations_lifecycle(app):
    await make_user(app, "fo-ann", groups=["fo-g"])
    await make_user(app, "fo-bob", groups=["fo-g"])
    await make_user(app, "fo-cy", groups=["fo-h"])
    ann, bob, cy = await login(app, "fo-ann"), await login(app, "fo-bob"), await login(app, "fo-cy")

    r = await ann.api("POST", "/portal/folders", data=json.dumps({"name": "papers"}))
    assert r.status_code == 201, r.text
    r = await ann.api("POST", "/portal/folders/papers/invitations",
                      data=json.dumps({"invitee": "fo-bob", "permission": "ro"}))
    assert r.status_code == 201, r.text
    inv = body(r)
    assert (inv["owner"], inv["folder"], inv["invitee"], inv["state"]) == ("fo-ann", "papers", "fo-bob", "pending")
    again = await ann.api("POST", "/portal/folders/papers/invitations", data=json.dumps({"invitee": "fo-bob"}))
    assert again.status_code == 409 and "invitee" in body(again)["errors"]

    listed = body(await bob.api("GET", "/portal/folder-invitations"))["invitations"]
    assert [i["id"] for i in listed] == [inv["id"]]
    assert body(await cy.api("GET", "/portal/folder-invitations"))["invitations"] == []
    # someone else's invitation: as if it did not exist; the owner may not accept for the invitee
    assert (await cy.api("POST", f"/portal/folder-invitations/{inv['id']}/accept")).status_code == 404
    assert (await cy.api("DELETE", f"/portal/folder-invitations/{inv['id']}")).status_code == 404
    assert (await ann.api("POST", f"/portal/folder-invitations/{inv['id']}/accept")).status_code == 403
    assert (await bob.api("POST", f"/portal/folder-invitations/{inv['id']}/accept", xsrf=False)).status_code == 403

    r = await bob.api("POST", f"/portal/folder-invitations/{inv['id']}/accept")
    assert r.status_code == 200 and body(r)["state"] == "accepted", r.text
    assert (await bob.api("POST", f"/portal/folder-invitations/{inv['id']}/decline")).status_code == 409
    assert (await bob.api("PATCH", f"/portal/folder-invitations/{inv['id']}",
                          data=json.dumps({"permission": "rw"}))).status_code == 403  # only the owner
    r = await ann.api("PATCH", f"/portal/folder-invitations/{inv['id']}", data=json.dumps({"permission": "rw"}))
    assert r.status_code == 200 and body(r)["permission"] == "rw"
    folders = body(await ann.api("GET", "/portal/folders"))["folders"]
    assert folders == [{"name": "papers", "invitations": [body(r)]}]

    r = await bob.api("POST", f"/portal/folder-invitations/{inv['id']}/leave")
    assert r.status_code == 200 and body(r)["state"] == "left"
    assert body(await bob.api("GET", "/portal/folder-invitations"))["invitations"] == []

    # a new invitation after leaving; declined; a third one revoked by the owner
    second = body(await ann.api("POST", "/portal/folders/papers/invitations", data=json.dumps({"invitee": "fo-bob"})))
    assert body(await bob.api("POST", f"/portal/folder-invitations/{second['id']}/decline"))["state"] == "declined"
    third = body(await ann.api("POST", "/portal/folders/papers/invitations",
                               data=json.dumps({"invitee": "fo-bob", "permission": "rwd"})))
    assert body(await ann.api("DELETE", f"/portal/folder-invitations/{third['id']}"))["state"] == "revoked"

    actions = [a.action for a in reversed(activity.recent(Hubfront.instance().db_url, username="fo-bob", limit=50))
               if a.kind == "folder"]
    assert actions == ["invited", "accepted", "permission", "left", "invited", "declined", "invited", "revoked"]


async def test_bad_requests_name_the_field(app):
    await make_user(app, "fo-dee", groups=["fo-g"])
    dee = await login(app, "fo-dee")
    for payload, field in [({"name": "../etc"}, "name"), ({"name": ""}, "name"), ({"name": "ok", "colour": 1}, "colour"),
                           ({}, "name"), ({"name": 5}, "name")]:
        r = await dee.api("POST", "/portal/folders", data=json.dumps(payload))
        assert r.status_code == 400 and field in body(r)["errors"], (payload, r.text)
    assert (await dee.api("POST", "/portal/folders", data=json.dumps({"name": "data"}))).status_code == 201
    r = await dee.api("POST", "/portal/folders", data=json.dumps({"name": "data"}))
    assert r.status_code == 409 and "name" in body(r)["errors"]
    for payload, field in [({"invitee": "nobody-here"}, "invitee"), ({"invitee": "fo-dee"}, "invitee"),
                           ({"invitee": "fo-ann", "permission": "rwx"}, "permission"), ({"permission": "ro"}, "invitee"),
                           ({"invitee": "fo-ann", "extra": True}, "extra")]:
        r = await dee.api("POST", "/portal/folders/data/invitations", data=json.dumps(payload))
        assert r.status_code == 400 and field in body(r)["errors"], (payload, r.text)
    r = await dee.api("POST", "/portal/folders/not-mine/invitations", data=json.dumps({"invitee": "fo-ann"}))
    assert r.status_code == 404
    for bad in ("0", "x", "99999999"):
        assert (await dee.api("POST", f"/portal/folder-invitations/{bad}/accept")).status_code == 404
    r = await dee.api("PATCH", "/portal/folder-invitations/1", data=json.dumps({"permission": "all"}))
    assert r.status_code in (400, 404)
    assert (await dee.api("POST", "/portal/folders", xsrf=False, data=json.dumps({"name": "x2"}))).status_code == 403


async def test_home_shows_pending_invitations_and_the_start_menu(app):
    await make_user(app, "fo-eve", groups=["fo-g"])
    await make_user(app, "fo-fay", groups=["fo-g"])
    eve, fay = await login(app, "fo-eve"), await login(app, "fo-fay")
    await eve.api("POST", "/portal/folders", data=json.dumps({"name": "shared-notes"}))
    inv = body(await eve.api("POST", "/portal/folders/shared-notes/invitations", data=json.dumps({"invitee": "fo-fay"})))
    home = (await fay.get("hub/home")).text
    assert 'id="hf-folder-invitations"' in home and "shared-notes" in home and f'data-id="{inv["id"]}"' in home
    assert 'id="hf-start"' in home and 'id="hf-start-form"' in home and "Remaining quota" in home
    assert 'id="hf-shortcut-users"' not in home  # admins only
    assert 'id="hf-folder-invitations"' not in (await eve.get("hub/home")).text  # nothing pending for eve
    dialog = await fay.get("hub/portal/start?group=fo-g")
    assert dialog.status_code == 200 and '/hub/spawn/fo-fay/fo-g"' in dialog.text
    assert (await fay.get("hub/portal/start?group=fo-h")).status_code == 404  # not her group
    page = (await fay.get("hub/portal/folders")).text
    assert "shared-notes" in page and "hf-fi-accept" in page
