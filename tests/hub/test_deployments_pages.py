"""The Deployments pages on a MockHub without the runner: the status the runner would write (a crash
loop with its log lines, traffic figures, the serving revision) is written here, and the pages must
show exactly that; who sees which page; what a group without deployments is told."""

from __future__ import annotations

import html
import json
import re
import sys

from sqlalchemy import update

from conftest_helpers import login, make_user
from hub_ext.configure import SERVICE_NAME
from hub_ext.settings import Hubfront
from hub_ext.store import session_scope
from hub_ext.store.models_deployments import Deployment

CRASH = "Crashed 5 times in 60 s; last lines:\nTraceback (most recent call last):\nValueError: <no model>"

# answers the hub's health checks, and ends with the test process (MockHub's teardown leaves services running)
IDLE_RUNNER = """
import os, sys, threading, time
from http.server import HTTPServer, SimpleHTTPRequestHandler
parent = os.getppid()
threading.Thread(target=HTTPServer(("127.0.0.1", int(sys.argv[1])), SimpleHTTPRequestHandler).serve_forever,
                 daemon=True).start()
while os.getppid() == parent:
    time.sleep(1)
"""


def hub_config(cfg, data):
    """In the runner's place, a server that answers and does nothing: only this test writes what
    the runner would report."""
    def idle(service):
        port = service["url"].rsplit(":", 1)[1]
        return {**service, "command": [sys.executable, "-c", IDLE_RUNNER, port]}

    cfg.JupyterHub.services = [idle(s) if s["name"] == SERVICE_NAME else s for s in cfg.JupyterHub.services]


def runner_writes(dep_id: str, **values) -> None:
    with session_scope(Hubfront.instance().db_url) as s:
        s.execute(update(Deployment).where(Deployment.id == dep_id).values(**values))


async def test_the_page_shows_what_the_runner_reports(app):
    await make_user(app, "hfdp-owner", groups=["hfdp-lab"], policies={"hfdp-lab": {"deployments_enabled": True}})
    await make_user(app, "hfdp-member", groups=["hfdp-lab"])
    await make_user(app, "hfdp-outsider", groups=["hfdp-other"])
    owner = await login(app, "hfdp-owner")
    r = await owner.api("POST", "/portal/groups/hfdp-lab/deployments", data=json.dumps(
        {"id": "hfdp-crash", "name": "Crashy", "command": "python serve.py", "env": {"TOKEN_X": "s3cret"}}))
    assert r.status_code == 201, r.text
    page = (await owner.get("hub/portal/deployments/hfdp-crash")).text
    assert re.search(r'id="hf-dep-phase"[^>]*>Deploying<', page)
    assert "Waiting for the runner" in page

    runner_writes("hfdp-crash", phase="Failed", reason="CrashLoop", message=CRASH, available=1, serving_revision=1,
                  requests=1234, errors=5, unauthorized=7, latency_p50=4.3, latency_p99=20.0)
    page = (await owner.get("hub/portal/deployments/hfdp-crash")).text
    assert re.search(r'id="hf-dep-phase"[^>]*>Failed<', page)
    status = re.search(r'<div class="alert alert-danger py-2 hf-status" id="hf-dep-status">(.*?)</div>', page, re.S)
    assert status and ">CrashLoop<" in status.group(1)
    assert f'<pre class="hf-message mb-0" data-field="message">{html.escape(CRASH)}</pre>' in page  # lines kept
    figures = dict(re.findall(r'data-traffic="(\w+)">([^<]*)<', page))
    assert figures == {"requests": "1234", "errors": "5", "unauthorized": "7", "latency_p50_ms": "4.3 ms",
                       "latency_p99_ms": "20.0 ms"}
    assert re.search(r'data-field="available">1<', page) and re.search(r'data-field="serving_revision">1<', page)
    assert "TOKEN_X</code>=<code>s3cret" in page  # the owner may change it: values shown

    # a member: read-only, names of variables without values; the list shows the phase and the reason
    member = await login(app, "hfdp-member")
    page = (await member.get("hub/portal/deployments/hfdp-crash")).text
    assert "hf-dep-readonly" in page and 'id="hf-dep-stop"' not in page and 'id="hf-edit-form"' not in page
    assert "TOKEN_X" in page and "s3cret" not in page
    listing = (await member.get("hub/portal/deployments")).text
    row = re.search(r'<tr class="hf-deployment" data-id="hfdp-crash".*?</tr>', listing, re.S).group(0)
    assert ">Failed<" in row and ">CrashLoop<" in row and "1 / 1" in row

    # another group's member: 404, page and API alike
    outsider = await login(app, "hfdp-outsider")
    assert (await outsider.get("hub/portal/deployments/hfdp-crash")).status_code == 404
    assert (await outsider.api("GET", "/portal/deployments/hfdp-crash")).status_code == 404
    assert (await owner.api("DELETE", "/portal/deployments/hfdp-crash")).status_code == 204


async def test_a_group_without_deployments_is_told_who_enables_them(app):
    await make_user(app, "hfdp-ga", groups=["hfdp-plain"], policies={"hfdp-plain": {"admins": ["hfdp-ga"]}})
    await make_user(app, "hfdp-pm", groups=["hfdp-plain"])
    for user, told in (("hfdp-ga", "as a group admin"), ("hfdp-pm", "ask a group admin (hfdp-ga)")):
        s = await login(app, user)
        r = await s.get("hub/portal/deployments")
        assert r.status_code == 200
        assert "Deployments are not enabled for this group" in r.text and told in r.text
        assert 'id="hf-deployment-form"' not in r.text
    await make_user(app, "hfdp-alone")
    alone = await login(app, "hfdp-alone")
    r = await alone.get("hub/portal/deployments")
    assert r.status_code == 404 and "No group available" in r.text
