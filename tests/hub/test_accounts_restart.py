"""The sign-in throttle survives a restart of the real hub process, and the admin clears it."""

import pytest

from hub_ext.auth.login import INVALID
from support_throttle import sign_in as attempt
from support_throttle import slow_hub as throttled_hub

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def slow_hub(tmp_path_factory):
    """The first wait (after the sixth failure) is 5 minutes: longer than any restart."""
    with throttled_hub(tmp_path_factory, 300) as hub:
        yield hub


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
