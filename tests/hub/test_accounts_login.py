"""Login with throttling and TOTP two-factor authentication, on a MockHub."""

import asyncio
import json
import re
from datetime import timedelta

import pyotp
import pytest
import requests
from jupyterhub.tests.utils import async_requests, public_url

from conftest_helpers import login, make_user
from hub_ext.auth import otp
from hub_ext.auth.login import INVALID, INVALID_CODE
from hub_ext.settings import Hubfront
from hub_ext.store.models import utcnow

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
    assert app.authenticator.throttle.state("acc-dan").failures == 1
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


class Clock:
    """The throttle's clock, moved by the test instead of waiting."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(app):
    throttle = app.authenticator.throttle
    clock, real = Clock(), throttle.clock
    throttle.clock = clock
    yield clock
    throttle.clock = real


class _From(requests.adapters.HTTPAdapter):
    """Connections from another loopback address: another client, as the proxy sees it."""

    def __init__(self, source):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def client(source="127.0.0.1"):
    s = requests.Session()
    s.trust_env = False
    s.mount("http://", _From(source))
    return s


async def attempt(app, session, username, password="", **data):
    """One sign-in on the login form from ``session``'s address."""
    url = public_url(app) + "hub/login"
    headers = data.pop("headers", None)

    def run():
        session.get(url, headers=headers)
        form = {"username": username, "password": password, "_xsrf": session.cookies.get("_xsrf", ""), **data}
        return session.post(url, data=form, allow_redirects=False, headers=headers)

    return await asyncio.to_thread(run)


def throttled(r) -> bool:
    """Refused at once, saying when to try again (and not whether the password was right)."""
    return (r.status_code == 429 and "Try again in" in r.text and INVALID not in r.text
            and int(r.headers["Retry-After"]) >= 1)


async def test_twenty_wrong_passwords_for_admin_then_the_right_one_signs_in(app, clock):
    await make_user(app, "acc-root", admin=True)
    throttle, me = app.authenticator.throttle, client()
    answers = [await attempt(app, me, "acc-root", f"wrong-Pass{i}") for i in range(20)]
    # five typos are free; the sixth failure says how long to wait; the other 14 are refused unchecked
    assert [r.status_code for r in answers[:6]] == [403] * 6
    assert all(INVALID in r.text for r in answers[:6])
    assert "Try again in 1 second." in answers[5].text
    refused = [r for r in answers[6:] if throttled(r)]
    assert len(refused) == 14, [r.status_code for r in answers]
    assert throttle.state("acc-root").failures == 6
    # inside the wait even the right password is refused without being looked at
    right = await attempt(app, me, "acc-root", PW)
    assert throttled(right) and "jupyterhub-hub-login" not in right.headers.get("Set-Cookie", "")
    assert throttle.state("acc-root").failures == 6
    wait = int(right.headers["Retry-After"])
    assert wait <= throttle.pair_max_seconds  # the documented most (10 minutes)
    clock.advance(wait)
    r = await attempt(app, me, "acc-root", PW)
    assert r.status_code == 302, r.text
    assert "jupyterhub-hub-login" in r.headers.get("Set-Cookie", "")
    assert throttle.state("acc-root").failures == 0 and throttle.check("acc-root", "127.0.0.1") == 0


async def test_another_address_is_not_held_up_by_an_attackers_failures(app, clock):
    await make_user(app, "acc-own", admin=True)
    throttle, attacker, owner = app.authenticator.throttle, client("127.0.0.1"), client("127.0.0.2")
    for i in range(20):  # the attacker tries each time its wait is over: 20 counted failures
        clock.advance(throttle.check("acc-own", "127.0.0.1"))
        r = await attempt(app, attacker, "acc-own", f"wrong-Pass{i}")
        assert r.status_code == 403 and INVALID in r.text
    r = await attempt(app, attacker, "acc-own", "wrong-Pass")
    assert throttled(r) and int(r.headers["Retry-After"]) >= 500
    # from elsewhere: at most the small account-wide wait (20 - 10 failures: 10 s), then in
    r = await attempt(app, owner, "acc-own", PW)
    assert throttled(r) and int(r.headers["Retry-After"]) <= 10
    clock.advance(10)
    r = await attempt(app, owner, "acc-own", PW)
    assert r.status_code == 302, r.text
    # the owner's address is now known: the attacker's further failures do not slow it at all
    clock.advance(700)
    for i in range(15):
        clock.advance(throttle.check("acc-own", "127.0.0.1"))
        await attempt(app, attacker, "acc-own", f"again-Pass{i}")
    assert (await attempt(app, client("127.0.0.2"), "acc-own", PW)).status_code == 302


async def test_a_forged_forwarded_for_does_not_change_the_address(app, clock):
    await make_user(app, "acc-fwd")
    me = client()
    for i in range(7):
        await attempt(app, me, "acc-fwd", f"wrong-Pass{i}")
    forged = {"X-Forwarded-For": f"198.51.100.{7}", "X-Real-Ip": "198.51.100.8"}
    r = await attempt(app, me, "acc-fwd", PW, headers=forged)
    assert throttled(r)


async def test_unknown_usernames_get_the_same_answers(app, clock):
    await make_user(app, "acc-kim")
    me = client()
    known = [await attempt(app, me, "acc-kim", "wrong-Pass1") for _ in range(8)]
    unknown = [await attempt(app, me, "acc-nobody", "wrong-Pass1") for _ in range(8)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [403] * 6 + [429] * 2
    strip = lambda t: re.sub(r'value="[^"]*"', "", t).replace("acc-kim", "X").replace("acc-nobody", "X")  # noqa: E731
    assert strip(known[-1].text) == strip(unknown[-1].text)


async def test_code_failures_count_and_a_throttled_code_step_asks_for_the_code_again(app, clock):
    await make_user(app, "acc-gus")
    secret = enroll(app, "acc-gus")
    me = client()
    for i in range(6):
        r = await attempt(app, me, "acc-gus", PW)
        ticket = ticket_of(r.text)
        assert ticket, f"attempt {i}"
        r = await attempt(app, me, "acc-gus", otp_ticket=ticket, otp="12345x")
        assert r.status_code == 403 and INVALID_CODE in r.text
    assert "Try again in 1 second." in r.text
    r = await attempt(app, me, "acc-gus", otp_ticket=ticket, otp=next_code(secret))
    assert throttled(r) and 'name="otp"' in r.text  # the code form again, for after the wait
    clock.advance(1)
    r = await attempt(app, me, "acc-gus", otp_ticket=ticket, otp=next_code(secret))
    assert r.status_code == 302, r.text


async def test_the_token_api_shares_the_throttle_and_the_admins_unlock_clears_it(app, clock):
    from jupyterhub.roles import assign_default_roles

    assign_default_roles(app.db, await make_user(app, "acc-tok"))
    url = public_url(app) + "hub/api/users/acc-tok/tokens"

    def token(password):
        return requests.post(url, data=json.dumps({"auth": {"username": "acc-tok", "password": password}}))

    for i in range(6):
        assert (await asyncio.to_thread(token, f"wrong-Pass{i}")).status_code == 403
    r = await asyncio.to_thread(token, PW)
    assert r.status_code == 429 and "Try again in" in r.json()["message"] and r.headers["Retry-After"] == "1"
    # and the login form is held up by the API's failures, from the same address
    assert throttled(await attempt(app, client(), "acc-tok", PW))
    admin = await login(app, "acc-tok-admin") if await make_user(app, "acc-tok-admin", admin=True) else None
    r = await admin.api("POST", "/portal/admin/users/acc-tok/unlock")
    assert r.status_code == 200
    assert app.authenticator.throttle.state("acc-tok").failures == 0
    # recorded in the user's activities as the page's unlock is, naming who did it
    from hub_ext.activity import recent

    assert any(e.action == "unlocked" and "(by acc-tok-admin)" in e.message
               for e in recent(Hubfront.instance().db_url, username="acc-tok", limit=5))
    r = await asyncio.to_thread(token, PW)
    assert r.status_code in (200, 201), r.text


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
