"""Manage Users (issue 9, item 9): reset password, group memberships, admin, disable, on a MockHub.

Each action is an activity, needs the XSRF token and is refused to non-admins.
"""

import json
import re

from jupyterhub import orm
from jupyterhub.tests.utils import async_requests, public_url

from conftest_helpers import login, make_user
from hub_ext import activity
from hub_ext.auth import account_state
from hub_ext.auth.passwords import verify_password
from hub_ext.groups import find_group, group_policy
from hub_ext.settings import Hubfront

PAGE = "hub/portal/admin/users"


def db():
    return Hubfront.instance().db_url


def last_activity(name):
    rows = activity.recent(db(), username=name, limit=1)
    return rows[0] if rows else None


async def _admin(app, name="mu-admin"):
    await make_user(app, name, admin=True, groups=["mu-g"])
    return await login(app, name)


async def test_reset_password_is_temporary_shown_once_and_ends_sessions(app):
    admin = await _admin(app)
    await make_user(app, "mu-ann", groups=["mu-g"])
    ann = await login(app, "mu-ann")
    r = await admin.post(PAGE, {"action": "reset_password", "username": "mu-ann"})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    temp = re.search(r'id="hf-temp-password">([^<]+)<', r.text).group(1)
    assert verify_password(db(), "mu-ann", temp) and account_state.must_change_password(db(), "mu-ann")
    assert temp not in (await admin.get(PAGE)).text  # shown once
    assert "temporary password" in (await admin.get(PAGE)).text.split('data-user="mu-ann"')[1].split("</tr>")[0]
    # her session ended; logging in with the temporary password leads to the change page only
    assert (await ann.get("hub/home", allow_redirects=False)).status_code == 302
    ann = await login(app, "mu-ann", temp)
    r = await ann.get("hub/home", allow_redirects=False)
    assert r.headers["Location"].endswith("portal/account/password?required=1")
    act = last_activity("mu-ann")
    assert act.kind == "account" and act.action == "password reset" and "mu-admin" in act.message


async def test_group_membership_add_and_remove(app):
    admin = await _admin(app)
    await make_user(app, "mu-bob", groups=["mu-g"])
    await make_user(app, "mu-other", groups=["mu-h"])
    r = await admin.post(PAGE, {"action": "add_group", "username": "mu-bob", "group": "mu-h"})
    assert r.status_code == 200 and "mu-bob: added to mu-h." in r.text
    assert "mu-h" in [g.name for g in orm.User.find(app.db, "mu-bob").groups]
    assert last_activity("mu-bob").action == "added to group" and last_activity("mu-bob").group == "mu-h"
    r = await admin.post(PAGE, {"action": "add_group", "username": "mu-bob", "group": "mu-h"})
    assert r.status_code == 400 and 'data-field="group"' in r.text
    r = await admin.post(PAGE, {"action": "add_group", "username": "mu-bob", "group": "no-such-group"})
    assert r.status_code == 400 and 'data-field="group"' in r.text
    # a group admin who leaves the group is no longer its admin
    await admin.post(PAGE, {"action": "group_admins", "group": "mu-h", "admins": "mu-bob"})
    r = await admin.post(PAGE, {"action": "remove_group", "username": "mu-bob", "group": "mu-h"})
    assert r.status_code == 200 and "mu-bob: removed from mu-h." in r.text
    app.db.expire_all()
    assert "mu-h" not in [g.name for g in orm.User.find(app.db, "mu-bob").groups]
    assert "mu-bob" not in group_policy(find_group(app.db, "mu-h")).admins
    assert last_activity("mu-bob").action == "removed from group"
    r = await admin.post(PAGE, {"action": "remove_group", "username": "mu-bob", "group": "mu-h"})
    assert r.status_code == 400 and "is not a member of mu-h" in r.text
    assert (await admin.post(PAGE, {"action": "add_group", "username": "nobody-here", "group": "mu-h"})).status_code == 404


async def test_make_and_remove_admin(app):
    admin = await _admin(app)
    await make_user(app, "mu-cat", groups=["mu-g"])
    cat = await login(app, "mu-cat")
    assert (await cat.get(PAGE)).status_code == 403
    r = await admin.post(PAGE, {"action": "make_admin", "username": "mu-cat"})
    assert r.status_code == 200 and last_activity("mu-cat").action == "made admin"
    assert (await cat.get(PAGE)).status_code == 200  # the admin role, at once
    assert (await cat.api("GET", "/users")).status_code == 200
    r = await admin.post(PAGE, {"action": "remove_admin", "username": "mu-cat"})
    assert r.status_code == 200 and last_activity("mu-cat").action == "admin removed"
    assert (await cat.get(PAGE)).status_code == 403
    assert (await cat.api("GET", "/users")).status_code == 403
    # not oneself
    r = await admin.post(PAGE, {"action": "remove_admin", "username": "mu-admin"})
    assert r.status_code == 400 and 'data-field="username"' in r.text
    assert orm.User.find(app.db, "mu-admin").admin


async def test_disable_refuses_login_sessions_and_tokens_until_enabled(app):
    admin = await _admin(app)
    await make_user(app, "mu-dan", groups=["mu-g"])
    dan = await login(app, "mu-dan")
    token = app.users["mu-dan"].new_api_token()
    r = await admin.post(PAGE, {"action": "disable", "username": "mu-dan"})
    assert r.status_code == 200 and "hf-disabled" in r.text and last_activity("mu-dan").action == "disabled"
    assert (await dan.get("hub/home", allow_redirects=False)).status_code == 302  # session ended
    r = await async_requests.get(public_url(app) + "hub/api/user", headers={"Authorization": f"token {token}"})
    assert r.status_code == 403 and r.json()["message"] == "This account is disabled. Ask an administrator to enable it."
    base = public_url(app)
    c = dict((await async_requests.get(base + "hub/login")).cookies)
    r = await async_requests.post(base + "hub/login", data={"username": "mu-dan", "password": "Passw0rd!x",
                                                            "_xsrf": c["_xsrf"]}, cookies=c, allow_redirects=False)
    assert r.status_code == 403 and "This account is disabled." in r.text
    r = await async_requests.post(base + "hub/api/users/mu-dan/tokens",
                                  data=json.dumps({"auth": {"username": "mu-dan", "password": "Passw0rd!x"}}))
    assert r.status_code == 403
    r = await admin.post(PAGE, {"action": "disable", "username": "mu-admin"})
    assert r.status_code == 400 and not account_state.is_disabled(db(), "mu-admin")
    r = await admin.post(PAGE, {"action": "enable", "username": "mu-dan"})
    assert r.status_code == 200 and last_activity("mu-dan").action == "enabled"
    assert (await login(app, "mu-dan")).xsrf


ACTIONS = [
    {"action": "reset_password", "username": "mu-eve"},
    {"action": "add_group", "username": "mu-eve", "group": "mu-h"},
    {"action": "remove_group", "username": "mu-eve", "group": "mu-g"},
    {"action": "make_admin", "username": "mu-eve"},
    {"action": "remove_admin", "username": "mu-fay"},
    {"action": "disable", "username": "mu-eve"},
    {"action": "enable", "username": "mu-gus"},
]


async def test_every_action_needs_the_xsrf_token_and_an_admin(app):
    admin = await _admin(app)
    await make_user(app, "mu-eve", groups=["mu-g"])
    await make_user(app, "mu-fay", admin=True)
    await make_user(app, "mu-gus")
    await make_user(app, "mu-other", groups=["mu-h"])
    account_state.set_disabled(db(), "mu-gus", True)
    member = await login(app, "mu-eve")
    for data in ACTIONS:
        r = await admin.post(PAGE, data, xsrf=False, allow_redirects=False)
        assert r.status_code == 403, data
        r = await member.post(PAGE, data, allow_redirects=False)
        assert r.status_code == 403, data
    # nothing happened
    app.db.expire_all()
    eve = orm.User.find(app.db, "mu-eve")
    assert verify_password(db(), "mu-eve", "Passw0rd!x") and not account_state.must_change_password(db(), "mu-eve")
    assert sorted(g.name for g in eve.groups) == ["mu-g"] and not eve.admin
    assert orm.User.find(app.db, "mu-fay").admin
    assert not account_state.is_disabled(db(), "mu-eve") and account_state.is_disabled(db(), "mu-gus")
    assert last_activity("mu-eve") is None
