"""Launching on a MockHub (real LocalGroupSpawner, tiny server): options are checked first,
refused launches leave nothing behind, starting needs a POST with XSRF, the home page tells
"starting" from "running"."""

import json
import re

from conftest_helpers import login, make_user
from spawn_rig import configure_spawner

hub_config = configure_spawner


def server_rows(app, name):
    from jupyterhub import orm

    return sorted(s.name for s in orm.User.find(app.db, name).orm_spawners.values() if s.name)


async def test_malformed_or_unknown_launch_options_are_400_naming_the_field(app):
    await make_user(app, "lr-ada", groups=["lr-a"])
    ada = await login(app, "lr-ada")
    cases = [({"instance_type": 123, "image": None}, "Instance type: must be text"),
             ({"group": "lr-a", "extra": "x" * 100_000}, "extra: unknown field")]
    for body, message in cases:
        r = await ada.api("POST", "/users/lr-ada/servers/lr-a", data=json.dumps(body))
        assert (r.status_code, r.json()["message"]) == (400, message)
    assert server_rows(app, "lr-ada") == []


async def test_refused_launches_leave_no_server_row(app):
    await make_user(app, "lr-bob", groups=["lr-b"], policies={"lr-b": {"quota": {"cpu": 0.25}}})
    await make_user(app, "lr-other", groups=["lr-o"])
    bob = await login(app, "lr-bob")
    refused = [
        ("foo", {"group": "foo"}, 403),  # not a group of his
        ("lr-o", {"group": "lr-o"}, 403),  # someone else's group
        ("x2", {}, 404),  # no group has that server name
        ("lr-b", {"group": "lr-b", "instance_type": "small"}, 403),  # over quota
        ("lr-b", {"group": "lr-b", "instance_type": "nope"}, 403),  # not allowed
    ]
    for server, body, status in refused:
        r = await bob.api("POST", f"/users/lr-bob/servers/{server}", data=json.dumps(body))
        assert r.status_code == status, (server, r.text)
    # the launch form refuses the same way and leaves nothing either
    r = await bob.post("hub/spawn/lr-bob/x3", data={"group": "x3"})
    assert r.status_code >= 400
    assert server_rows(app, "lr-bob") == []
    page = (await bob.get("hub/portal/notebooks")).text
    assert "No notebook server yet." in page and 'data-server="foo"' not in page


async def test_a_link_with_options_only_prefills_the_form(app):
    await make_user(app, "lr-cat", groups=["lr-c"])
    cat = await login(app, "lr-cat")
    r = await cat.get("hub/spawn/lr-cat/lr-c?group=lr-c&instance_type=medium&image=torch")
    assert r.status_code == 200
    assert not app.users["lr-cat"].spawners["lr-c"].active  # nothing started
    assert re.search(r'id="it-medium"[^>]*checked', r.text)
    assert re.search(r'<option value="torch"[^>]*selected', r.text)
    # the form's POST without the XSRF token is refused, with it the server starts
    r = await cat.post("hub/spawn/lr-cat/lr-c", xsrf=False, allow_redirects=False,
                       data={"group": "lr-c", "instance_type": "small", "image": "base"})
    assert r.status_code == 403 and not app.users["lr-cat"].spawners["lr-c"].active
    r = await cat.post("hub/spawn/lr-cat/lr-c", allow_redirects=False,
                       data={"group": "lr-c", "instance_type": "small", "image": "base"})
    assert r.status_code == 302
    assert app.users["lr-cat"].spawners["lr-c"].active
    await app.users["lr-cat"].stop("lr-c")
    # a stopped server's Start button is a form posting the same options
    page = (await cat.get("hub/portal/notebooks")).text
    start = re.search(r'<form method="post" action="[^"]*spawn/lr-cat/lr-c" class="d-inline hf-start">(.*?)</form>',
                      page, re.S)
    assert start and 'name="_xsrf"' in start.group(1) and 'name="instance_type" value="small"' in start.group(1)


async def test_quick_launch_is_a_form_and_says_starting_until_ready(app):
    await make_user(app, "lr-dan", groups=["lr-d"], policies={"lr-d": {"default_instance_type": "small"}})
    dan = await login(app, "lr-dan")
    home = (await dan.get("hub/home")).text
    form = re.search(r'<form method="post" action="[^"]*spawn/lr-dan/lr-d"[^>]*>(.*?)</form>', home, re.S)
    assert form, home
    for field in ('name="_xsrf"', 'name="group" value="lr-d"', 'name="instance_type" value="small"'):
        assert field in form.group(1)
    spawner = app.users["lr-dan"].get_or_create_spawner("lr-d", "lr-d")
    spawner._spawn_pending = True  # as while an image environment builds
    try:
        home = (await dan.get("hub/home")).text
        assert "Your notebook in this group is starting." in home and "spawn-pending/lr-dan/lr-d" in home
        assert "is running" not in home
        assert "hf-quick-reason" not in home  # "starting" is said once, above the buttons, not under each
        assert len(re.findall(r'class="btn btn-secondary hf-quick"[^>]*disabled', home)) == 2
    finally:
        spawner._spawn_pending = False
