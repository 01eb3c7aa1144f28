"""The License page, API and banners on a MockHub."""

import json
from datetime import timedelta

from conftest_helpers import login, make_user

from hub_ext import license as lic
from hub_ext.settings import Hubfront
from hub_ext.store.models import utcnow
from support import put_deployments

PEM, PUBLIC = lic.keygen()
EXPIRED = "Your license has expired. Please contact your sales team to extend your license."
NODES = "You are using more nodes than your license allows. Please contact your system administrator."
DEPLOYMENTS = "Please contact your system administrator for assistance to upgrade your license to run more models."


def hub_config(cfg, data):
    cfg.HubfrontLicense.public_keys = [PUBLIC]
    cfg.HubfrontLicense.check_interval = 0  # these tests change the ledger behind the hub's back


def token(days_left=30, started_days_ago=1, **kw):
    now = utcnow()
    terms = dict(licensed_to="Acme Corp", starts=now - timedelta(days=started_days_ago),
                 expires=now + timedelta(days=days_left), max_nodes=2, max_deployments=10)
    terms.update(kw)
    return lic.issue(PEM, lic.LicenseTerms(**terms))


async def users(app):
    """(admin, user) sessions; the hub's test fixtures delete users after each test."""
    await make_user(app, "lic-admin", admin=True, groups=["lic-g"])
    await make_user(app, "lic-user", groups=["lic-g"])
    return await login(app, "lic-admin"), await login(app, "lic-user")


async def install(s, tok):
    return await s.api("PUT", "/portal/license", data=json.dumps({"license": tok}))


def set_deployments(n):
    put_deployments(Hubfront.instance().db_url, n, prefix="lic-dep")


async def test_no_license_is_the_free_tier_and_only_admins_see_the_page(app):
    admin, user = await users(app)
    r = await admin.get("hub/portal/license")
    assert r.status_code == 200
    assert "No license is installed." in r.text and "Free tier" in r.text
    data = (await admin.api("GET", "/portal/license")).json()
    assert data["status"] == "missing" and data["type"] == "Free tier" and data["usage"]["nodes"] == 1
    assert data["banners"] == []
    assert (await user.get("hub/portal/license")).status_code == 403
    assert (await user.api("GET", "/portal/license")).status_code == 403
    assert (await install(user, token())).status_code == 403
    assert "Free tier" in (await user.get("hub/portal/about")).text


async def test_tampered_or_foreign_tokens_are_refused_and_change_nothing(app):
    admin, user = await users(app)
    good = token()
    head, payload, sig = good.split(".")
    tampered = f"{head}.{payload[:-2]}AA.{sig}"
    for bad in (tampered, lic.issue(lic.keygen()[0], lic.LicenseTerms("x", utcnow(), utcnow() + timedelta(days=1), 9, 9)),
                "garbage"):
        r = await install(admin, bad)
        assert r.status_code == 400 and "license" in r.json()["errors"], r.text
    r = await admin.post("hub/portal/license", {"license": tampered})
    assert r.status_code == 400 and "signature does not match" in r.text
    assert (await admin.api("GET", "/portal/license")).json()["status"] == "missing"
    r = await admin.api("PUT", "/portal/license", xsrf=False, data=json.dumps({"license": good}))
    assert r.status_code == 403
    r = await admin.api("PUT", "/portal/license", data=json.dumps({}))
    assert r.status_code == 400 and "license" in r.json()["errors"]


async def test_valid_license_shows_details_and_type(app):
    admin, user = await users(app)
    r = await install(admin, token())
    assert r.status_code == 200 and r.json()["status"] == "valid"
    page = (await admin.get("hub/portal/license")).text
    assert "Acme Corp" in page and "Enterprise" in page and 'id="hf-license-status">valid' in page
    about = (await user.get("hub/portal/about")).text
    assert "Enterprise, licensed to Acme Corp" in about


async def test_not_yet_started_license_is_invalid_on_the_page(app):
    admin, user = await users(app)
    assert (await install(admin, token(started_days_ago=-3))).status_code == 200
    data = (await admin.api("GET", "/portal/license")).json()
    assert data["status"] == "not_started" and data["type"] == "Free tier"
    assert data["limits"] == {"nodes": 1, "deployments": 1}
    page = (await admin.get("hub/portal/license")).text
    assert 'id="hf-license-status">invalid' in page and "The free tier applies." in page


async def test_expired_license_banner_on_every_page_for_everyone(app):
    admin, user = await users(app)
    await install(admin, token(days_left=-1, started_days_ago=60))
    for path in ("hub/home", "hub/portal/about", "hub/token"):
        assert EXPIRED in (await user.get(path)).text, path
    assert (await admin.api("GET", "/portal/license")).json()["banners"] == [EXPIRED]


async def test_nodes_banner_only_when_over(app):
    admin, user = await users(app)
    await install(admin, token(max_nodes=1))
    assert NODES not in (await user.get("hub/home")).text
    await install(admin, token(max_nodes=0))
    assert NODES in (await user.get("hub/home")).text


async def test_deployments_banner_threshold_is_ten_percent(app):
    admin, user = await users(app)
    await install(admin, token(max_deployments=10))
    try:
        set_deployments(11)  # exactly +10%: still fine
        page = (await user.get("hub/home")).text
        assert DEPLOYMENTS not in page and EXPIRED not in page
        assert (await admin.api("GET", "/portal/license")).json()["usage"]["deployments"] == 11
        set_deployments(12)
        assert DEPLOYMENTS in (await user.get("hub/home")).text
    finally:
        set_deployments(0)
