"""Invite Users: panel, links, sign-up, join, and unusable links (MockHub)."""

import re
from datetime import timedelta

from jupyterhub import orm
from jupyterhub.tests.utils import async_requests, public_url

from conftest_helpers import login, make_user
from hub_ext.auth.passwords import account_exists
from hub_ext.portal.invitations import invites
from hub_ext.settings import Hubfront
from hub_ext.store.models import utcnow


def db():
    return Hubfront.instance().db_url


async def create_link(s, group, days="7", uses="1"):
    r = await s.post("hub/portal/invitations", {"group": group, "expires_days": days, "max_uses": uses})
    assert r.status_code == 200, r.text
    return re.search(r'id="hf-invite-link" value="([^"]+)"', r.text).group(1)


async def anonymous_form(url):
    r = await async_requests.get(url)
    return r, dict(r.cookies)


async def sign_up(url, username, password="Signup-pass1", confirm=None):
    r, cookies = await anonymous_form(url)
    data = {"username": username, "password": password, "confirm_password": confirm or password,
            "_xsrf": cookies.get("_xsrf", "")}
    return await async_requests.post(url, data=data, cookies=cookies, allow_redirects=False)


def member(app, username, group):
    app.db.expire_all()
    u = orm.User.find(app.db, username)
    return u is not None and any(g.name == group for g in u.groups)


async def test_panel_only_for_group_admins_and_admins(app):
    await make_user(app, "inv-boss", groups=["inv-g"], policies={"inv-g": {"admins": ["inv-boss"]}})
    await make_user(app, "inv-joe", groups=["inv-g"])
    assert "Invite Users" in (await (await login(app, "inv-boss")).get("hub/home")).text
    joe = await login(app, "inv-joe")
    assert "Invite Users" not in (await joe.get("hub/home")).text
    r = await joe.post("hub/portal/invitations", {"group": "inv-g"})
    assert r.status_code == 403
    r = await joe.post("hub/portal/invitations", {"group": "inv-other"})
    assert r.status_code == 404


async def test_sign_up_creates_account_joins_group_and_logs_in(app):
    await make_user(app, "inv-ada", groups=["inv-s"], policies={"inv-s": {"admins": ["inv-ada"]}})
    s = await login(app, "inv-ada")
    link = await create_link(s, "inv-s", uses="2")
    assert "/hub/invite/" in link
    home = (await s.get("hub/home")).text
    assert 'data-invitation="' in home and "0 / 2" in home
    r, _ = await anonymous_form(link)
    assert r.status_code == 200 and 'id="hf-signup"' in r.text and 'data-rule="symbol"' in r.text
    # the same password rules as everywhere
    r = await sign_up(link, "inv-newbie", password="weakpass")
    assert r.status_code == 400 and "must contain at least one number" in r.text
    assert not account_exists(db(), "inv-newbie")
    r = await sign_up(link, "inv-newbie")
    assert r.status_code == 302 and r.headers["Location"].endswith("/hub/home")
    assert "jupyterhub-hub-login" in r.headers.get("Set-Cookie", "")
    assert account_exists(db(), "inv-newbie") and member(app, "inv-newbie", "inv-s")
    await login(app, "inv-newbie", "Signup-pass1")
    # a taken username is refused
    r = await sign_up(link, "inv-ada")
    assert r.status_code == 400 and "already taken" in r.text


async def test_logged_in_user_just_joins(app):
    await make_user(app, "inv-own", groups=["inv-j"], policies={"inv-j": {"admins": ["inv-own"]}})
    await make_user(app, "inv-guest", groups=["inv-elsewhere"])
    link = await create_link(await login(app, "inv-own"), "inv-j")
    guest = await login(app, "inv-guest")
    r = await guest.get(link.replace(public_url(app), ""))
    assert r.status_code == 200 and 'id="hf-join"' in r.text
    r = await guest.post(link.replace(public_url(app), ""), {}, allow_redirects=False)
    assert r.status_code == 302 and member(app, "inv-guest", "inv-j")
    assert 'data-group="inv-j"' in (await guest.get("hub/home")).text  # the new group is in focus


async def test_expired_revoked_and_used_up_links_create_nothing(app):
    await make_user(app, "inv-eve", groups=["inv-x"], policies={"inv-x": {"admins": ["inv-eve"]}})
    s = await login(app, "inv-eve")
    # used up
    link = await create_link(s, "inv-x", uses="1")
    assert (await sign_up(link, "inv-first")).status_code == 302
    r = await sign_up(link, "inv-second")
    assert r.status_code == 410 and invites.MESSAGES["used_up"] in r.text
    assert not account_exists(db(), "inv-second") and orm.User.find(app.db, "inv-second") is None
    # revoked
    link = await create_link(s, "inv-x", uses="5")
    inv_id = re.findall(r'data-invitation="(\d+)"', (await s.get("hub/home")).text)[0]
    r = await s.post(f"hub/portal/invitations/{inv_id}/revoke", {}, allow_redirects=False)
    assert r.status_code == 302
    r = await sign_up(link, "inv-third")
    assert r.status_code == 410 and invites.MESSAGES["revoked"] in r.text
    assert not account_exists(db(), "inv-third")
    # expired
    _, token = invites.create(db(), "inv-x", "inv-eve", days=7, max_uses=5, now=utcnow() - timedelta(days=8))
    url = public_url(app) + "hub/invite/" + token
    r, _ = await anonymous_form(url)
    assert r.status_code == 410 and invites.MESSAGES["expired"] in r.text and 'id="hf-signup"' not in r.text
    r = await sign_up(url, "inv-fourth")
    assert r.status_code == 410 and not account_exists(db(), "inv-fourth")
    # unknown
    r, _ = await anonymous_form(public_url(app) + "hub/invite/not-a-real-token")
    assert r.status_code == 404 and invites.MESSAGES["unknown"] in r.text


async def test_bad_form_values_name_the_field(app):
    await make_user(app, "inv-val", groups=["inv-v"], admin=True)
    s = await login(app, "inv-val")
    r = await s.post("hub/portal/invitations", {"group": "inv-v", "expires_days": "0", "max_uses": "abc"})
    assert r.status_code == 400 and 'data-field="expires_days"' in r.text and 'data-field="max_uses"' in r.text


async def test_token_is_stored_hashed(app):
    from sqlalchemy import select

    from hub_ext.store import session_scope
    from hub_ext.store.models_accounts import Invitation

    await make_user(app, "inv-hash", groups=["inv-h"], admin=True)
    link = await create_link(await login(app, "inv-hash"), "inv-h")
    token = link.rsplit("/", 1)[1]
    with session_scope(db()) as s:
        hashes = s.scalars(select(Invitation.token_hash)).all()
    assert token not in hashes and all(len(h) == 64 for h in hashes)


async def test_signup_and_join_need_the_xsrf_token(app):
    await make_user(app, "inv-xs", groups=["inv-xg"], admin=True)
    await make_user(app, "inv-xguest")
    link = await create_link(await login(app, "inv-xs"), "inv-xg", uses="3")
    r, cookies = await anonymous_form(link)
    r = await async_requests.post(link, data={"username": "inv-noxsrf", "password": "Signup-pass1",
                                              "confirm_password": "Signup-pass1"}, cookies=cookies,
                                  allow_redirects=False)
    assert r.status_code == 403 and not account_exists(db(), "inv-noxsrf")
    guest = await login(app, "inv-xguest")
    r = await guest.post(link.replace(public_url(app), ""), {}, xsrf=False, allow_redirects=False)
    assert r.status_code == 403 and not member(app, "inv-xguest", "inv-xg")
