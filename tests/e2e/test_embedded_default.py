"""The embedded default as `make run` starts it: admin bootstrap, demo groups, login."""

import os
import stat

import pytest
import sqlalchemy as sa

from support import RealHub, need, proxy_command

pytestmark = pytest.mark.e2e


@pytest.fixture
def fresh_hub(tmp_path):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    hub = RealHub(tmp_path / "data", env={"HUBFRONT_ADMIN_PASSWORD": ""})
    yield hub
    hub.close()


def test_first_start_generates_admin_password_and_keeps_groups(fresh_hub):
    hub = fresh_hub.start()
    secret = hub.data_dir / "admin-password"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    password = secret.read_text().strip()
    assert len(password) >= 12
    assert password in hub.log_tail(400)  # printed once on first start
    session = hub.login("admin", password)
    home = session.get(session.url("/hub/home")).text
    assert 'id="hf-group-dropdown"' in home and "Research" in home and "Teaching" in home
    # the password is stored as an argon2 hash, never in clear
    engine = sa.create_engine(hub.portal_db_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("select password_hash from accounts where username='admin'")).scalar()
    engine.dispose()
    assert stored.startswith("$argon2") and password not in stored
    # an admin's policy change survives a restart: demo groups are loaded only once
    r = session.api("PUT", "/portal/groups/research/policy", json={"quota": {"gpu": 1}})
    assert r.status_code == 200, r.text
    hub.stop()
    hub.start()
    session = hub.login("admin", password)
    policy = session.api("GET", "/portal/groups/research/policy").json()["policy"]
    assert policy["quota"]["gpu"] == 1 and policy["display_name"] == ""
    assert password not in hub.log_tail(40)  # not printed again


def test_wrong_password_stays_on_login_page(fresh_hub):
    hub = fresh_hub.start()
    import requests

    raw = requests.Session()
    raw.get(hub.base_url + "/hub/login")
    r = raw.post(hub.base_url + "/hub/login", data={"username": "admin", "password": "not-it",
                                                    "_xsrf": raw.cookies.get("_xsrf", "")})
    assert r.status_code == 403 and "/hub/login" in r.url
