"""Helpers for MockHub tests: users with local accounts, and logged-in sessions."""

from __future__ import annotations

from jupyterhub.tests.utils import async_requests, public_url

from hub_ext.settings import Hubfront
from support import xsrf_of


class Browserish:
    """Cookie session against a MockHub: what a logged-in browser would send."""

    def __init__(self, app, cookies, xsrf):
        self.app, self.cookies, self.xsrf = app, cookies, xsrf

    def _url(self, path):
        return public_url(self.app) + path.lstrip("/")

    async def get(self, path, **kw):
        return await async_requests.get(self._url(path), cookies=self.cookies, **kw)

    async def post(self, path, data=None, xsrf=True, **kw):
        data = dict(data or {})
        if xsrf:
            data["_xsrf"] = self.xsrf
        return await async_requests.post(self._url(path), data=data, cookies=self.cookies, **kw)

    async def api(self, method, path, xsrf=True, **kw):
        headers = kw.pop("headers", {})
        if xsrf:
            headers["X-XSRFToken"] = self.xsrf
        return await async_requests.request(method, self._url("hub/api" + path), cookies=self.cookies,
                                            headers=headers, **kw)


async def make_user(app, name, password="Passw0rd!x", groups=(), admin=False, policies=None):
    """Create a hub user with a local account, in ``groups`` (created as needed)."""
    from jupyterhub import orm

    from hub_ext.auth.passwords import set_password
    from hub_ext.policy import parse_policy, properties_with

    set_password(Hubfront.instance().db_url, name, password)
    orm_user = orm.User.find(app.db, name) or orm.User(name=name)
    orm_user.admin = admin
    app.db.add(orm_user)
    for g in groups:
        group = orm.Group.find(app.db, g)
        if group is None:
            group = orm.Group(name=g)
            app.db.add(group)
        if policies and g in policies:
            group.properties = properties_with(group.properties, parse_policy(policies[g]))
        if group not in orm_user.groups:
            orm_user.groups.append(group)
    app.db.commit()
    app.users[orm_user]  # noqa: B018 - load the User wrapper
    return orm_user


async def login(app, name, password="Passw0rd!x") -> Browserish:
    base = public_url(app)
    r = await async_requests.get(base + "hub/login")
    cookies = dict(r.cookies)
    r = await async_requests.post(
        base + "hub/login",
        data={"username": name, "password": password, "_xsrf": cookies.get("_xsrf", "")},
        cookies=cookies, allow_redirects=False,
    )
    assert r.status_code == 302, f"login failed: {r.status_code}"
    cookies.update(r.cookies)
    home = await async_requests.get(base + "hub/home", cookies=cookies)
    return Browserish(app, cookies, xsrf_of(home.text))
