"""A hub without root privileges (a developer's laptop): workloads run as the hub's own user,
and that is never silent: a warning in the log and a banner for admins on every page.

The real hub is started as the unprivileged ``nobody`` account by this (root) test.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from hub_ext.isolation import NOT_ROOT
from hub_ext.isolation.manager import SHARED_NETWORK
from support import (
    RealHub, need, proxy_command, run_in_server, screenshot, stop_leftover_servers, ui_login, wait_for_server,
)

pytestmark = [pytest.mark.e2e, pytest.mark.isolation]

PASSWORD = "plain-Passw0rd!"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "the test starts the hub as an unprivileged account, which needs root")
    nobody = pwd.getpwnam("nobody")
    data = Path(tmp_path_factory.mktemp("nonroot-hub"))
    os.chown(data, nobody.pw_uid, nobody.pw_gid)
    hub = RealHub(data, env={"HOME": str(data)})
    hub.run_as = (nobody.pw_uid, nobody.pw_gid)
    hub.start()
    try:
        admin = hub.admin()
        assert admin.api("POST", "/groups/plain").status_code == 201
        hub.add_user("mia", PASSWORD, ["plain"])
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)


def test_warning_in_the_log_and_banner_for_admins_only(hub, page):
    assert f"Hubfront: {NOT_ROOT}" in hub.log_path.read_text()
    home = hub.admin().get(hub.base_url + "/hub/home").text
    assert NOT_ROOT in home and SHARED_NETWORK in home  # and the network is shared by every workload
    assert NOT_ROOT not in hub.login("mia", PASSWORD).get(hub.base_url + "/hub/home").text
    ui_login(page, hub, "admin", hub.admin_password)
    page.goto(hub.base_url + "/hub/portal/notebooks")  # every page, not only home
    assert page.locator(".hf-banner", has_text=NOT_ROOT).is_visible()
    assert page.locator(".hf-banner", has_text=SHARED_NETWORK).is_visible()
    screenshot(page, "admin-banner-not-isolated")


def test_workloads_run_as_the_hubs_own_user(hub):
    mia = hub.login("mia", PASSWORD)
    r = mia.api("POST", "/users/mia/servers/plain", json={"group": "plain", "instance_type": "cpu-small",
                                                          "image": "base"})
    assert r.status_code in (201, 202), r.text
    wait_for_server(mia, "mia", "plain", hub=hub)
    assert run_in_server(mia, "mia", "plain", "import os; print(os.getuid())").strip() == str(pwd.getpwnam("nobody").pw_uid)
    mia.api("DELETE", "/users/mia/servers/plain")
