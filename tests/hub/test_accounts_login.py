"""Login with lockout and TOTP two-factor authentication, on a MockHub."""

import json
import re

import pyotp
from jupyterhub.tests.utils import async_requests, public_url

from conftest_helpers import login, make_user
from hub_ext.auth import lockout, otp
from hub_ext.auth.login import INVALID, INVALID_CODE
from hub_ext.settings import Hubfront

PW = "Passw0rd!x"


def db():
    return Hubfront.instance().db_url


async def start_form(app):
    r = await async_requests.get(public_url(app) + "hub/login")
    return dict(r.cookies)


async def post_login(app, cookies, **data):
    data["_xsrf"] = cookies.get("_xsrf", "")
    return await async_requests.post(public_url(app) + "hub/login", data=data, cookies=cookies,
                                     allow_redirects=False)


def enroll(app, name) -> str:
    key = app.authenticator.otp_key()
    enrollment = otp.begin_enrollment(db(), key, name, "Hubfront")
    assert otp.confirm_enrollment(db(), key, name, pyotp.TOTP(enrollment.secret).now())
    # the confirming code used the current step; log in with the next one
    return enrollment.secret


def next_code(secret):
    totp = pyotp.TOTP(secret)
    import time

    return totp.at(time.time() + 30)


def ticket_of(html):
    m = re.search(r'name="otp_ticket" value="([^"]+)"', html)
    return m and m.group(1)


async def test_two_step_login_asks_for_the_code_only_after_the_password(app):
    await make_user(app, "acc-ann", groups=["acc-g"])
    secret = enroll(app, "acc-ann")
    cookies = await start_form(app)
    form = (await async_requests.get(public_url(app) + "hub/login")).text
    assert 'name="otp"' not in form
    r = await post_login(app, cookies, username="acc-ann", password=PW)
    assert r.status_code == 200
    assert 'name="otp"' in r.text and 'name="password"' not in r.text
    assert "jupyterhub-hub-login" not in r.headers.get("Set-Cookie", "")
    ticket = ticket_of(r.text)
    r = await post_login(app, cookies, username="acc-ann", otp_ticket=ticket, otp=next_code(secret))
    assert r.status_code == 302, r.text
    assert "jupyterhub-hub-login" in r.headers.get("Set-Cookie", "")


async def test_wrong_password_does_not_reveal_2fa(app):
    await make_user(app, "acc-bea")
    await make_user(app, "acc-cid")
    enroll(app, "acc-bea")
    cookies = await start_form(app)
    with_2fa = await post_login(app, cookies, username="acc-bea", password="wrong-Pass1")
    without = await post_login(app, cookies, username="acc-cid", password="wrong-Pass1")
    for r in (with_2fa, without):
        assert r.status_code == 403
        assert INVALID in r.text and 'name="otp"' not in r.text
    strip = lambda t: re.sub(r'value="[^"]*"', "", t).replace("acc-bea", "X").replace("acc-cid", "X")  # noqa: E731
    assert strip(with_2fa.text) == strip(without.text)


async def test_wrong_code_is_refused_and_asked_again(app):
    await make_user(app, "acc-dan")
    secret = enroll(app, "acc-dan")
    cookies = await start_form(app)
    ticket = ticket_of((await post_login(app, cookies, username="acc-dan", password=PW)).text)
    wrong = "000000" if next_code(secret) != "000000" else "111111"
    r = await post_login(app, cookies, username="acc-dan", otp_ticket=ticket, otp=wrong)
    assert r.status_code == 403 and INVALID_CODE in r.text and 'name="otp"' in r.text
    assert lockout.failures(db(), "acc-dan") == 1
    # a forged ticket gets nothing
    r = await post_login(app, cookies, username="acc-dan", otp_ticket="forged", otp=next_code(secret))
    assert r.status_code == 403 and INVALID in r.text


async def test_token_api_refuses_credentials_without_the_code(app):
    from jupyterhub.roles import assign_default_roles

    assign_default_roles(app.db, await make_user(app, "acc-eli"))  # as the hub does for real users
    secret = enroll(app, "acc-eli")
    url = public_url(app) + "hub/api/users/acc-eli/tokens"
    r = await async_requests.post(url, data=json.dumps({"auth": {"username": "acc-eli", "password": PW}}))
    assert r.status_code == 403
    r = await async_requests.post(url, data=json.dumps(
        {"auth": {"username": "acc-eli", "password": PW, "otp": next_code(secret)}}))
    assert r.status_code in (200, 201), r.text
    assert r.json()["token"]


async def test_tenth_failure_locks_without_revealing_the_password(app):
    await make_user(app, "acc-fox")
    cookies = await start_form(app)
    for _ in range(9):
        r = await post_login(app, cookies, username="acc-fox", password="bad-Pass1")
        assert r.status_code == 403 and INVALID in r.text
    r = await post_login(app, cookies, username="acc-fox", password="bad-Pass1")
    assert lockout.LOCKED_MESSAGE in r.text
    # now even the right password gets the same locked page
    right = await post_login(app, cookies, username="acc-fox", password=PW)
    wrong = await post_login(app, cookies, username="acc-fox", password="bad-Pass1")
    assert right.status_code == wrong.status_code == 403
    assert lockout.LOCKED_MESSAGE in right.text and lockout.LOCKED_MESSAGE in wrong.text
    lockout.unlock(db(), "acc-fox")
    assert (await post_login(app, cookies, username="acc-fox", password=PW)).status_code == 302


async def test_code_failures_count_toward_lockout(app):
    await make_user(app, "acc-gus")
    secret = enroll(app, "acc-gus")
    cookies = await start_form(app)
    for i in range(10):
        ticket = ticket_of((await post_login(app, cookies, username="acc-gus", password=PW)).text)
        assert ticket, f"attempt {i}"
        r = await post_login(app, cookies, username="acc-gus", otp_ticket=ticket, otp="12345x")
    assert lockout.LOCKED_MESSAGE in r.text
    r = await post_login(app, cookies, username="acc-gus", password=PW, otp=next_code(secret))
    assert r.status_code == 403 and lockout.LOCKED_MESSAGE in r.text
    lockout.unlock(db(), "acc-gus")


async def test_required_2fa_sends_to_enrollment_after_login(app):
    from hub_ext.auth import account_settings

    await make_user(app, "acc-hat")
    account_settings.set_require_2fa(db(), True)
    try:
        cookies = await start_form(app)
        r = await post_login(app, cookies, username="acc-hat", password=PW)
        assert r.status_code == 302 and r.headers["Location"].endswith("/hub/portal/account/2fa?required=1")
        # and until they enroll, every page reminds them
        s = await login(app, "acc-hat")
        assert 'data-banner="require-2fa"' in (await s.get("hub/home")).text
        secret = enroll(app, "acc-hat")
        assert secret and 'data-banner="require-2fa"' not in (await s.get("hub/home")).text
    finally:
        account_settings.set_require_2fa(db(), False)


async def test_login_page_keeps_working_for_plain_accounts(app):
    await make_user(app, "acc-ivy", groups=["acc-g"])
    s = await login(app, "acc-ivy")
    assert (await s.get("hub/home")).status_code == 200
