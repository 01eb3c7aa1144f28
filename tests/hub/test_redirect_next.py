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
