"""Every redirect's ``next`` goes through one check (hub_ext.redirects): never off-site, on a MockHub."""

import pytest
import requests
from jupyterhub.tests.utils import async_requests, public_url

from conftest_helpers import login, make_user

OFF_SITE = ["/\t/evil.example/x", "//evil.example/", "/\\evil.example", "https://evil.example/",
            "/%09/evil.example", "/%2F%2Fevil.example", "javascript:alert(1)", "/\n/evil.example"]


def lands_on_the_hub(app, location: str) -> bool:
    """A path of this origin (the login's default is c.JupyterHub.default_url, unprefixed)."""
    return location.startswith("/") and not location.startswith("//") and "evil" not in location


@pytest.mark.parametrize("target", OFF_SITE)
async def test_the_group_switch_never_sends_the_browser_off_site(app, target):
    await make_user(app, "nxt-ann", groups=["nxt-a", "nxt-b"])
    s = await login(app, "nxt-ann")
    r = await s.post("hub/portal/context", {"group": "nxt-b", "next": target}, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("/hub/home"), r.headers.get("Location")
    assert lands_on_the_hub(app, r.headers["Location"])


async def test_the_group_switch_keeps_a_same_origin_next(app):
    await make_user(app, "nxt-bob", groups=["nxt-a", "nxt-b"])
    s = await login(app, "nxt-bob")
    here = requests.utils.urlparse(public_url(app)).path + "hub/jobs?x=1"
    r = await s.post("hub/portal/context", {"group": "nxt-a", "next": here}, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == here


@pytest.mark.parametrize("target", OFF_SITE[:4])
async def test_login_never_sends_the_browser_off_site(app, target):
    await make_user(app, "nxt-cid")
    base = public_url(app)
    r = await async_requests.get(base + "hub/login")
    cookies = dict(r.cookies)
    r = await async_requests.post(base + "hub/login", params={"next": target}, cookies=cookies,
                                  data={"username": "nxt-cid", "password": "Passw0rd!x",
                                        "_xsrf": cookies.get("_xsrf", "")}, allow_redirects=False)
    assert r.status_code == 302 and lands_on_the_hub(app, r.headers["Location"]), r.headers.get("Location")


async def test_every_hub_route_checks_next_with_the_one_function(app):
    from jupyterhub.handlers.base import BaseHandler

    from hub_ext.redirects import NextUrlCheck

    # JupyterHub appends these after setting the route table; none reads a next (they redirect to
    # the request's own path under the prefix, or answer 404)
    never_next = {"AddSlashHandler", "PrefixRedirectHandler", "Template404"}
    hub_routes = [r[1] for r in app.handlers if isinstance(r, tuple) and isinstance(r[1], type)
                  and issubclass(r[1], BaseHandler) and r[1].__name__ not in never_next]
    assert len(hub_routes) > 50  # JupyterHub's pages and APIs and the portal's
    unchecked = [cls.__name__ for cls in hub_routes if cls._validate_next_url is not NextUrlCheck._validate_next_url]
    assert not unchecked
