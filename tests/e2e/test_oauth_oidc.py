"""OAuth mode end to end: the real hub (hubfront-oauth) against a real OIDC provider process.

`oidc-provider-mock` runs on a free port; the login follows the provider's own
authorize form, like a browser would, and the user's hub groups come from the
``groups`` claim at every login.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from support import REPO, RealHub, free_port, need, proxy_command

pytestmark = pytest.mark.e2e

CONFIG = """
c = get_config()  # noqa: F821
load_subconfig({base!r})  # noqa: F821  (the embedded default, then OAuth mode on top)
c.JupyterHub.authenticator_class = "hubfront-oauth"
c.HubfrontOAuthenticator.client_id = "hubfront-test"
c.HubfrontOAuthenticator.client_secret = "not-a-secret"
c.HubfrontOAuthenticator.authorize_url = "{issuer}/oauth2/authorize"
c.HubfrontOAuthenticator.token_url = "{issuer}/oauth2/token"
c.HubfrontOAuthenticator.userdata_url = "{issuer}/userinfo"
c.HubfrontOAuthenticator.oauth_callback_url = "{hub}/hub/oauth_callback"
c.HubfrontOAuthenticator.username_claim = "sub"
c.HubfrontOAuthenticator.groups_claim = "groups"
c.HubfrontOAuthenticator.allow_all = True
"""


@pytest.fixture
def oidc_provider(tmp_path):
    exe = Path(sys.executable).parent / "oidc-provider-mock"
    need(exe.exists(), "oidc-provider-mock is not installed (pip install -e '.[test]')")
    port = free_port()
    claims = json.dumps({"sub": "olivia", "groups": ["oidc-lab", "oidc-team"], "name": "Olivia"})
    log = open(tmp_path / "oidc.log", "wb")
    proc = subprocess.Popen([str(exe), "--port", str(port), "--user-claims", claims],
                            stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(issuer + "/.well-known/openid-configuration", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError((tmp_path / "oidc.log").read_text())
    yield issuer
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def oauth_hub(tmp_path_factory, oidc_provider):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    data = Path(tmp_path_factory.mktemp("oauthhub"))
    hub = RealHub(data)
    config = data / "oauth_config.py"
    config.write_text(CONFIG.format(base=str(REPO / "jupyterhub_config.py"), issuer=oidc_provider,
                                    hub=hub.base_url))
    hub.config = config
    hub.start()
    yield hub
    hub.close()


def oidc_login(hub: RealHub, sub: str) -> requests.Session:
    """Click "Sign in", then submit the provider's authorize form for ``sub``."""
    s = requests.Session()
    r = s.get(hub.base_url + "/hub/oauth_login?next=/hub/home")
    assert r.status_code == 200 and "Authorize Client" in r.text, r.text[:500]
    assert re.search(r'<input type="text" name="sub"', r.text)
    r = s.post(r.url, data={"sub": sub})  # the form posts back to the same URL
    assert r.status_code == 200, hub.log_tail()
    assert r.url.startswith(hub.base_url + "/hub/home"), r.url
    return s


def test_login_syncs_groups_and_shows_home(oauth_hub, oidc_provider):
    login_page = requests.get(oauth_hub.base_url + "/hub/login").text
    assert "oauth_login" in login_page  # the "Sign in with ..." button, no password form
    s = oidc_login(oauth_hub, "olivia")
    home = s.get(oauth_hub.base_url + "/hub/home").text
    assert 'id="hf-group-dropdown"' in home
    assert 'data-group="oidc-lab"' in home and "oidc-team" in home
    me = s.get(oauth_hub.base_url + "/hub/api/user").json()
    assert me["name"] == "olivia" and sorted(me["groups"]) == ["oidc-lab", "oidc-team"]
    # password and 2FA belong to the identity provider
    for path in ("/hub/portal/account", "/hub/portal/account/password", "/hub/portal/account/2fa"):
        page = s.get(oauth_hub.base_url + path)
        assert page.status_code == 200 and "managed by your identity provider" in page.text, path

    # the provider changes olivia's groups: the next login follows
    r = requests.put(f"{oidc_provider}/users/olivia", json={"groups": ["oidc-team", "oidc-new"]})
    assert r.status_code == 204
    s2 = oidc_login(oauth_hub, "olivia")
    me = s2.get(oauth_hub.base_url + "/hub/api/user").json()
    assert sorted(me["groups"]) == ["oidc-new", "oidc-team"]


def test_user_without_groups_claim_sees_no_group(oauth_hub):
    s = oidc_login(oauth_hub, "nobody-in-particular")
    home = s.get(oauth_hub.base_url + "/hub/home").text
    assert "No group available" in home
