"""The sign-in throttle survives a restart of the real hub process, and the admin clears it."""

import pytest
import requests

from hub_ext.auth.login import INVALID
from support import REPO, RealHub, need, proxy_command

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def slow_hub(tmp_path_factory):
    """A real hub whose first wait (after the sixth failure) is 5 minutes: longer than any restart."""
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    work = tmp_path_factory.mktemp("throttle-restart")
    (work / "config.py").write_text(
        f"load_subconfig({str(REPO / 'jupyterhub_config.py')!r})\n"
        "c.LoginThrottle.pair_base_seconds = 300.0\n")
    hub = RealHub(work / "data", config=work / "config.py")
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


def attempt(hub, username, password):
    s = requests.Session()
    s.get(hub.base_url + "/hub/login")
    return s.post(hub.base_url + "/hub/login", data={"username": username, "password": password,
                                                     "_xsrf": s.cookies.get("_xsrf", "")})


def test_the_wait_after_failures_survives_a_restart_and_the_admin_clears_it(slow_hub):
    slow_hub.add_user("rst-ada", "Right-pass1")
    for i in range(5):
        r = attempt(slow_hub, "rst-ada", f"wrong-{i}")
        assert r.status_code == 403 and INVALID in r.text
    r = attempt(slow_hub, "rst-ada", "wrong-5")
    assert r.status_code == 403 and "Try again in 5 minutes." in r.text
    slow_hub.stop()
    slow_hub.start()
    r = attempt(slow_hub, "rst-ada", "Right-pass1")
    assert r.status_code == 429 and "Try again in" in r.text and INVALID not in r.text
    assert 60 < int(r.headers["Retry-After"]) <= 300
    # an admin clears the failed sign-ins from the portal's Users page: no wait any more
    admin = slow_hub.admin()
    r = admin.post(admin.url("/hub/portal/admin/users"), data={"action": "unlock", "username": "rst-ada",
                                                               "_xsrf": admin.xsrf})
    assert r.status_code == 200
    r = attempt(slow_hub, "rst-ada", "Right-pass1")
    assert r.status_code == 200 and "/hub/login" not in r.url
