"""The Jobs, Deployments and Apps pages keep their main part between looks (issue 27) but never show an old
state: a change made by another process (the runner), or to the group's policy in JupyterHub's own tables,
shows on the very next look; each look carries its own request's XSRF token."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest_helpers import login, make_user
from hub_ext.portal.common import base
from hub_ext.settings import Hubfront

# what the runner does: a job appears, then it runs (another process: only the shared stamps tell the hub)
RUNNER = r"""
import sys
from sqlalchemy import update
from hub_ext.store import session_scope
from hub_ext.store.models_jobs import Job
url, step = sys.argv[1], sys.argv[2]
with session_scope(url) as s:
    if step == "submit":
        s.add(Job(group="fresh-j", username="fresh-jo", name="nightly-train", command="true", image="base",
                  instance_type="cpu-small", timeout=60))
    else:
        s.execute(update(Job).where(Job.name == "nightly-train").values(phase="Running", message="Running"))
"""


def _jobs(html: str) -> str:
    return html.split('id="hf-jobs"')[1].split("</table>")[0]


def _xsrf(html: str) -> set[str]:
    return set(re.findall(r'name="_xsrf" value="([^"]*)"', html))


async def test_the_jobs_page_shows_what_the_runner_recorded_on_the_next_look(app):
    await make_user(app, "fresh-jo", groups=["fresh-j"])
    s = await login(app, "fresh-jo")
    first = (await s.get("hub/portal/jobs")).text
    assert "nightly-train" not in _jobs(first)
    hits = base.KEPT_PAGES.hits
    again = (await s.get("hub/portal/jobs")).text
    assert base.KEPT_PAGES.hits > hits  # kept: nothing changed, the main part was not built again
    assert _xsrf(again) == {s.xsrf}  # the request's own token, never the placeholder it was kept with
    url = Hubfront.instance().db_url
    subprocess.run([sys.executable, "-c", RUNNER, url, "submit"], check=True, timeout=60)
    assert "nightly-train" in _jobs((await s.get("hub/portal/jobs")).text)
    subprocess.run([sys.executable, "-c", RUNNER, url, "start"], check=True, timeout=60)
    row = _jobs((await s.get("hub/portal/jobs")).text).split("nightly-train")[1].split("</tr>")[0]
    assert ">Running</span>" in row


async def test_the_deployments_and_apps_pages_follow_the_groups_policy_at_once(app):
    await make_user(app, "fresh-de", groups=["fresh-d"], policies={"fresh-d": {"deployments_enabled": True}})
    s = await login(app, "fresh-de")
    assert "Deployments are not enabled" not in (await s.get("hub/portal/deployments")).text
    apps = (await s.get("hub/portal/apps")).text
    # the admin console's edit of the group's policy (JupyterHub's own tables): a new policy, a new page
    await make_user(app, "fresh-de", groups=["fresh-d"], policies={"fresh-d": {"deployments_enabled": False}})
    assert "Deployments are not enabled" in (await s.get("hub/portal/deployments")).text
    await make_user(app, "fresh-de", groups=["fresh-d"], policies={"fresh-d": {"admins": ["fresh-de"]}})
    assert (await s.get("hub/portal/apps")).text.count("hf-install") > apps.count("hf-install")
