"""A temporary password must be changed before anything else (issue 9, item 6), on a MockHub."""

import json
import re

from jupyterhub.roles import assign_default_roles
from jupyterhub.tests.utils import async_requests, public_url

from conftest_helpers import login, make_user
from hub_ext.auth import account_state
from hub_ext.settings import Hubfront

CHANGE = "hub/portal/account/password?required=1"
WHY = "Password change required: you signed in with a temporary password."


def db():
    return Hubfront.instance().db_url


async def _created_by_admin(app, name):
    """An admin creates ``name`` on Manage Users; returns the temporary password shown once."""
    await make_user(app, "tmp-admin", admin=True, groups=["tmp-g"])
    admin = await login(app, "tmp-admin")
    r = await admin.post("hub/portal/admin/users", {"action": "create", "username": name, "groups": "tmp-g"})
    assert r.status_code == 200
    return re.search(r'id="hf-temp-password">([^<]+)<', r.text).group(1)


async def _token_request(app, name, password):
    return await async_requests.post(public_url(app) + f"hub/api/users/{name}/tokens",
                                     data=json.dumps({"auth": {"username": name, "password": password}}))


async def test_every_page_api_and_token_request_waits_for_the_new_password(app):
    temp = await _created_by_admin(app, "tmp-new")
    s = await login(app, "tmp-new", temp)  # lands on the change page, which carries the XSRF token
    for path in ("hub/home", "hub/spawn", "hub/spawn/tmp-new/tmp-g", "hub/token", "hub/portal/notebooks",
                 "hub/portal/account", "hub/admin"):
        r = await s.get(path, allow_redirects=False)
        assert r.status_code == 302 and r.headers["Location"].endswith("/" + CHANGE), path
    assert (await s.get(CHANGE)).status_code == 200
    # every API call, starting a server included, says why it is refused
    calls = [("GET", "/user", None), ("GET", "/portal/me", None),
             ("POST", "/users/tmp-new/servers/tmp-g", {}), ("POST", "/users/tmp-new/tokens", {})]
    for method, path, body in calls:
        r = await s.api(method, path, data=json.dumps(body) if body is not None else None)
        assert r.status_code == 403 and WHY in r.json()["message"], path
    # a form post to a JupyterHub page is refused too, and no server was started
    r = await s.post("hub/spawn/tmp-new/tmp-g", {}, allow_redirects=False)
    assert r.status_code == 403 and WHY in r.text
    assert not app.users["tmp-new"].spawners or not any(sp.active for sp in app.users["tmp-new"].spawners.values())
    # a token request with the temporary password gets no token
    r = await _token_request(app, "tmp-new", temp)
    assert r.status_code == 403 and WHY in r.json()["message"]
    # a token made before (e.g. before an admin reset) is refused as well
    token = app.users["tmp-new"].new_api_token()
    r = await async_requests.get(public_url(app) + "hub/api/user", headers={"Authorization": f"token {token}"})
    assert r.status_code == 403 and WHY in r.json()["message"]

    # the change itself works, from the page; then everything is open
    r = await s.post("hub/portal/account/password", {"current_password": temp, "new_password": "Own-pass-99",
                                                     "confirm_password": "Own-pass-99"}, allow_redirects=False)
    assert r.status_code == 302
    s.cookies.update(r.cookies)
    assert not account_state.must_change_password(db(), "tmp-new")
    for path in ("hub/home", "hub/token", "hub/portal/account"):
        assert (await s.get(path, allow_redirects=False)).status_code == 200, path
    assert (await s.api("GET", "/user")).status_code == 200
    assert (await _token_request(app, "tmp-new", "Own-pass-99")).status_code == 201


async def test_the_password_api_is_open_to_api_only_users(app):
    orm_user = await make_user(app, "tmp-api", password="First-pass-1")
    assign_default_roles(app.db, orm_user)  # the "user" role, as a login would
    account_state.set_must_change_password(db(), "tmp-api", True)
    token = app.users["tmp-api"].new_api_token(scopes=["inherit"])
    headers = {"Authorization": f"token {token}"}
    base = public_url(app) + "hub/api/"
    r = await async_requests.get(base + "portal/me", headers=headers)
    assert r.status_code == 403 and WHY in r.json()["message"]
    r = await async_requests.put(base + "portal/me/password", headers=headers,
                                 data=json.dumps({"current_password": "First-pass-1", "new_password": "Second-pass-2"}))
    assert r.status_code == 200, r.text
    assert (await async_requests.get(base + "portal/me", headers=headers)).status_code == 200
