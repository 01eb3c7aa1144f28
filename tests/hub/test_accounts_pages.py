"""My Account, Change Password, 2FA pages, admin Users page, and XSRF on all of them (MockHub)."""

import json
import re
import time

import pyotp
from jupyterhub.tests.utils import async_requests, public_url

from conftest_helpers import login, make_user
from hub_ext.auth import otp
from hub_ext.auth.passwords import RULE_MESSAGES, verify_password
from hub_ext.settings import Hubfront

PW = "Passw0rd!x"


def db():
    return Hubfront.instance().db_url


async def test_profile_page_and_patch(app):
    await make_user(app, "pro-ann", groups=["pro-g"])
    s = await login(app, "pro-ann")
    page = (await s.get("hub/portal/account")).text
    assert "pro-ann" in page and "pro-g" in page and 'id="hf-2fa-status">Off' in page
    r = await s.api("PATCH", "/portal/me", data=json.dumps({"full_name": "Ann Example", "email": "ann@example.org"}))
    assert r.status_code == 200 and r.json()["full_name"] == "Ann Example"
    r = await s.api("PATCH", "/portal/me", data=json.dumps({"full_name": "A" * 65}))
    assert r.status_code == 400 and "full_name" in r.json()["errors"]
    r = await s.api("PATCH", "/portal/me", data=json.dumps({"email": "nope"}))
    assert r.status_code == 400 and "email" in r.json()["errors"]
    me = (await s.api("GET", "/portal/me")).json()
    assert me["full_name"] == "Ann Example" and me["email"] == "ann@example.org"
    assert me["groups"][0]["name"] == "pro-g" and me["two_factor"] is False
    # the page form too
    r = await s.post("hub/portal/account", {"full_name": "Ann E.", "email": ""}, allow_redirects=False)
    assert r.status_code == 302
    r = await s.post("hub/portal/account", {"full_name": "", "email": ""})
    assert r.status_code == 400 and "Full name must have 1 to 64 characters" in r.text


async def test_profile_menu_has_profile_and_password(app):
    await make_user(app, "pro-menu", groups=["pro-g"])
    page = (await (await login(app, "pro-menu")).get("hub/home")).text
    menu = page.split('id="hf-profile-menu"')[1].split("</ul>")[0]
    for text in ("User Profile", "Change Password", "API Token", "Logout"):
        assert text in menu
    assert "Manage Users" not in menu


async def test_password_rules_each_answer_400(app):
    await make_user(app, "pro-bob")
    s = await login(app, "pro-bob")
    cases = {"a1!bcde": "length", "12345678!": "letter", "abcdefgh!": "number", "abcdefg12": "symbol",
             "a1!" + "x" * 126: "max", PW: "current"}
    for new, rule in cases.items():
        r = await s.api("PUT", "/portal/me/password", data=json.dumps({"current_password": PW, "new_password": new}))
        assert r.status_code == 400, new
        assert r.json()["errors"]["new_password"] == "new password " + RULE_MESSAGES[rule]
    await make_user(app, "pro-b0b!")  # a username that could itself pass the rules
    s2 = await login(app, "pro-b0b!")
    r = await s2.api("PUT", "/portal/me/password", data=json.dumps({"current_password": PW, "new_password": "PRO-b0b!"}))
    assert r.status_code == 400 and r.json()["errors"]["new_password"] == "new password " + RULE_MESSAGES["username"]
    r = await s.api("PUT", "/portal/me/password", data=json.dumps({"current_password": "wrong", "new_password": "Fresh-pass9"}))
    assert r.status_code == 400 and "current_password" in r.json()["errors"]
    assert verify_password(db(), "pro-bob", PW)  # nothing changed


async def test_password_page_shows_live_rules(app):
    await make_user(app, "pro-rul")
    page = (await (await login(app, "pro-rul")).get("hub/portal/account/password")).text
    for rule in ("length", "letter", "number", "symbol", "max", "username", "current"):
        assert f'data-rule="{rule}"' in page


async def test_change_password_ends_other_sessions_and_keeps_this_one(app):
    await make_user(app, "pro-cat", groups=["pro-g"])
    this = await login(app, "pro-cat")
    other = await login(app, "pro-cat")
    r = await this.post("hub/portal/account/password", {"current_password": PW, "new_password": "Brand-new9",
                                                        "confirm_password": "Brand-new9"}, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("password?changed=1")
    this.cookies.update(r.cookies)
    r = await this.get("hub/home", allow_redirects=False)
    assert r.status_code == 200
    r = await other.get("hub/home", allow_redirects=False)
    assert r.status_code == 302 and "/hub/login" in r.headers["Location"]
    assert verify_password(db(), "pro-cat", "Brand-new9") and not verify_password(db(), "pro-cat", PW)
    await login(app, "pro-cat", "Brand-new9")


async def test_password_form_errors_are_shown(app):
    await make_user(app, "pro-dee")
    s = await login(app, "pro-dee")
    r = await s.post("hub/portal/account/password", {"current_password": PW, "new_password": "short",
                                                     "confirm_password": "short"})
    assert r.status_code == 400 and "must have at least 8 characters" in r.text
    r = await s.post("hub/portal/account/password", {"current_password": PW, "new_password": "Long-enough1",
                                                     "confirm_password": "different"})
    assert r.status_code == 400 and "does not match" in r.text


async def test_enroll_and_disable_2fa_from_the_pages(app):
    await make_user(app, "pro-eve")
    s = await login(app, "pro-eve")
    r = await s.post("hub/portal/account/2fa", {"action": "begin"}, allow_redirects=False)
    assert r.status_code == 302
    page = (await s.get("hub/portal/account/2fa")).text
    secret = re.search(r'id="hf-2fa-key">([A-Z2-7]+)<', page).group(1)
    assert len(secret) == 32 and "<svg" in page
    assert not otp.is_enabled(db(), "pro-eve")
    r = await s.post("hub/portal/account/2fa", {"action": "confirm", "code": "12345"})
    assert r.status_code == 400 and not otp.is_enabled(db(), "pro-eve")
    r = await s.post("hub/portal/account/2fa", {"action": "confirm", "code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200 and r.headers.get("Cache-Control") == "no-store"
    codes = re.findall(r'<li class="col">([0-9a-f-]+)</li>', r.text)
    assert len(codes) == 10 and otp.is_enabled(db(), "pro-eve")
    # shown once: the page no longer lists them
    assert codes[0] not in (await s.get("hub/portal/account/2fa")).text
    # disabling needs the password and a current code
    r = await s.post("hub/portal/account/2fa", {"action": "disable", "password": "wrong", "code": codes[0]})
    assert r.status_code == 400 and otp.is_enabled(db(), "pro-eve")
    r = await s.post("hub/portal/account/2fa", {"action": "disable", "password": PW, "code": "000000x"})
    assert r.status_code == 400 and otp.is_enabled(db(), "pro-eve")
    r = await s.post("hub/portal/account/2fa", {"action": "disable", "password": PW,
                                                "code": pyotp.TOTP(secret).at(time.time() + 30)},
                     allow_redirects=False)
    assert r.status_code == 302 and not otp.is_enabled(db(), "pro-eve")


async def test_admin_users_page(app):
    await make_user(app, "adm-root", admin=True, groups=["adm-g"])
    await make_user(app, "adm-member", groups=["adm-g"])
    await make_user(app, "adm-plain", groups=["adm-g"])
    assert (await (await login(app, "adm-plain")).get("hub/portal/admin/users")).status_code == 403
    s = await login(app, "adm-root")
    assert "Manage Users" in (await s.get("hub/home")).text
    page = await s.get("hub/portal/admin/users")
    assert page.status_code == 200 and "adm-member" in page.text and "/hub/admin" in page.text
    # create with a temporary password: they must change it at first login
    r = await s.post("hub/portal/admin/users", {"action": "create", "username": "adm-new", "groups": "adm-g"})
    assert r.status_code == 200
    temp = re.search(r'id="hf-temp-password">([^<]+)<', r.text).group(1)
    base = public_url(app)
    c = dict((await async_requests.get(base + "hub/login")).cookies)
    r = await async_requests.post(base + "hub/login", data={"username": "adm-new", "password": temp, "_xsrf": c["_xsrf"]},
                                  cookies=c, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("portal/account/password?required=1")
    r = await s.post("hub/portal/admin/users", {"action": "create", "username": "Bad Name", "password": "x"})
    assert r.status_code == 400 and 'data-field="username"' in r.text and 'data-field="password"' in r.text
    # failed sign-ins are shown and cleared
    throttle = app.authenticator.throttle
    for _ in range(10):
        throttle.record_failure("adm-member", "192.0.2.9")
    page = (await s.get("hub/portal/admin/users")).text
    assert "hf-failed-signins" in page and "10 failed sign-ins" in page and "hf-locked" not in page
    r = await s.post("hub/portal/admin/users", {"action": "unlock", "username": "adm-member"})
    assert r.status_code == 200 and throttle.check("adm-member", "192.0.2.9") == 0
    assert "hf-failed-signins" not in r.text
    # reset 2FA
    key = app.authenticator.otp_key()
    e = otp.begin_enrollment(db(), key, "adm-member", "x")
    otp.confirm_enrollment(db(), key, "adm-member", pyotp.TOTP(e.secret).now())
    r = await s.post("hub/portal/admin/users", {"action": "reset_2fa", "username": "adm-member"})
    assert r.status_code == 200 and not otp.is_enabled(db(), "adm-member")
    # group admins
    r = await s.post("hub/portal/admin/users", {"action": "group_admins", "group": "adm-g", "admins": "adm-member"})
    assert r.status_code == 200
    assert "Group admin" in (await (await login(app, "adm-member")).get("hub/home")).text
    r = await s.post("hub/portal/admin/users", {"action": "group_admins", "group": "adm-g", "admins": "adm-stranger"})
    assert r.status_code == 400
    # require 2FA for everyone
    r = await s.post("hub/portal/admin/users", {"action": "require_2fa", "value": "on"})
    assert 'id="hf-require-2fa" name="value" checked' in r.text
    await s.post("hub/portal/admin/users", {"action": "require_2fa"})


async def test_admin_apis_unlock_and_reset(app):
    await make_user(app, "adm-api", admin=True)
    await make_user(app, "adm-locked")
    await make_user(app, "adm-nobody")
    throttle = app.authenticator.throttle
    for _ in range(10):
        throttle.record_failure("adm-locked", "192.0.2.9")
    s = await login(app, "adm-api")
    r = await s.api("POST", "/portal/admin/users/adm-locked/unlock")
    assert r.status_code == 200 and throttle.check("adm-locked", "192.0.2.9") == 0
    assert (await s.api("POST", "/portal/admin/users/no-such-user/unlock")).status_code == 404
    plain = await login(app, "adm-nobody")
    assert (await plain.api("POST", "/portal/admin/users/adm-locked/unlock")).status_code == 403
    assert (await plain.api("DELETE", "/portal/admin/users/adm-locked/2fa")).status_code == 403
    assert (await s.api("DELETE", "/portal/admin/users/adm-locked/2fa")).status_code == 200


async def test_every_state_change_needs_the_xsrf_token(app):
    await make_user(app, "xs-admin", admin=True, groups=["xs-g"])
    s = await login(app, "xs-admin")
    pages = [
        ("hub/portal/account", {"full_name": "X"}),
        ("hub/portal/account/password", {"current_password": PW, "new_password": "Other-pass1", "confirm_password": "Other-pass1"}),
        ("hub/portal/account/2fa", {"action": "begin"}),
        ("hub/portal/admin/users", {"action": "create", "username": "xs-made"}),
        ("hub/portal/invitations", {"group": "xs-g"}),
        ("hub/portal/invitations/1/revoke", {}),
    ]
    for path, data in pages:
        r = await s.post(path, data, xsrf=False, allow_redirects=False)
        assert r.status_code == 403, path
    apis = [
        ("PATCH", "/portal/me", {"full_name": "X"}),
        ("PUT", "/portal/me/password", {"current_password": PW, "new_password": "Other-pass1"}),
        ("POST", "/portal/admin/users/xs-admin/unlock", None),
        ("DELETE", "/portal/admin/users/xs-admin/2fa", None),
    ]
    for method, path, body in apis:
        r = await s.api(method, path, xsrf=False, data=json.dumps(body) if body else None)
        assert r.status_code == 403, path
    assert verify_password(db(), "xs-admin", PW)
    assert not otp.pending_enrollment(db(), app.authenticator.otp_key(), "xs-admin", "x")
    assert (await s.api("GET", "/portal/me")).json()["full_name"] == ""
    # the login form and the 2-step form as well
    base = public_url(app)
    c = dict((await async_requests.get(base + "hub/login")).cookies)
    r = await async_requests.post(base + "hub/login", data={"username": "xs-admin", "password": PW}, cookies=c,
                                  allow_redirects=False)
    assert r.status_code == 403
