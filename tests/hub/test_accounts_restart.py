"""Lockout survives a restart of the real hub process."""

import pytest
import requests

from hub_ext.auth.lockout import LOCKED_MESSAGE
from hub_ext.auth.login import INVALID

pytestmark = pytest.mark.e2e


def attempt(hub, username, password):
    s = requests.Session()
    s.get(hub.base_url + "/hub/login")
    return s.post(hub.base_url + "/hub/login", data={"username": username, "password": password,
                                                     "_xsrf": s.cookies.get("_xsrf", "")})


def test_lock_at_the_tenth_failure_survives_a_restart(real_hub):
    real_hub.add_user("rst-ada", "Right-pass1")
    for i in range(9):
        r = attempt(real_hub, "rst-ada", f"wrong-{i}")
        assert r.status_code == 403 and INVALID in r.text
    r = attempt(real_hub, "rst-ada", "wrong-9")
    assert r.status_code == 403 and LOCKED_MESSAGE in r.text
    real_hub.stop()
    real_hub.start()
    r = attempt(real_hub, "rst-ada", "Right-pass1")
    assert r.status_code == 403 and LOCKED_MESSAGE in r.text
    # an admin unlocks from the portal's Users page
    admin = real_hub.admin()
    r = admin.post(admin.url("/hub/portal/admin/users"), data={"action": "unlock", "username": "rst-ada",
                                                               "_xsrf": admin.xsrf})
    assert r.status_code == 200
    r = attempt(real_hub, "rst-ada", "Right-pass1")
    assert r.status_code == 200 and "/hub/login" not in r.url
