"""The home's panels are kept between looks (issue 27) but never show an old state: a change made by
another process (the runner), by the hub itself, or to the group's policy in JupyterHub's own tables shows
on the very next look."""

from __future__ import annotations

import json
import subprocess
import sys

import asyncssh
from conftest_helpers import login, make_user
from hub_ext.portal.common import base
from hub_ext.settings import Hubfront


def _recent(html: str) -> str:
    return html.split('id="hf-recent"')[1].split("</section>")[0]


def _desktop_keys(html: str) -> str:
    return html.split('id="hf-desktop-keys"')[1].split("</p>")[0]


def _resources(html: str) -> str:
    return html.split('id="hf-resources"')[1].split("</section>")[0]


async def test_a_change_by_another_process_shows_on_the_next_look(app):
    await make_user(app, "fresh-ada", groups=["fresh-a"])
    s = await login(app, "fresh-ada")
    first = (await s.get("hub/home")).text
    assert "Nothing of yours yet in this group." in _recent(first)
    hits, built = base.KEPT_PAGES.hits, base.KEPT_PAGES.misses
    assert (await s.get("hub/home")).text.count('data-panel="recent"') == 1
    assert base.KEPT_PAGES.hits > hits and base.KEPT_PAGES.misses == built  # kept: nothing was built again
    # the runner is another process: what it records reaches the hub through the shared stamps alone
    code = ("import sys; from hub_ext.activity import record; record(sys.argv[1], username='fresh-ada', "
            "group='fresh-a', kind='job', action='succeeded', message='Job nightly-42 succeeded', status='ok')")
    subprocess.run([sys.executable, "-c", code, Hubfront.instance().db_url], check=True, timeout=60)
    assert "Job nightly-42 succeeded" in _recent((await s.get("hub/home")).text)


async def test_a_change_by_the_hub_and_to_the_policy_shows_on_the_next_look(app):
    await make_user(app, "fresh-bea", groups=["fresh-b"], policies={"fresh-b": {"user_quota": {"cpu": 2}}})
    s = await login(app, "fresh-bea")
    home = (await s.get("hub/home")).text
    assert "0 / 2" in _resources(home)
    assert "No SSH key yet" in _desktop_keys(home)
    # the policy lives in JupyterHub's tables (the admin console's edit): a new policy, a new panel
    await make_user(app, "fresh-bea", groups=["fresh-b"], policies={"fresh-b": {"user_quota": {"cpu": 3}}})
    assert "0 / 3" in _resources((await s.get("hub/home")).text)
    # a key added through the portal's API shows in the Desktop & SSH panel at once
    line = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    r = await s.api("POST", "/portal/me/ssh-keys", data=json.dumps({"name": "laptop", "public_key": line}))
    assert r.status_code in (200, 201), r.text
    assert "You have 1 SSH key." in _desktop_keys((await s.get("hub/home")).text)
