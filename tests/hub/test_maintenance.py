"""Maintenance (issue 13): recompute quota use removes what no workload holds, admins only, XSRF, clean now."""

import asyncio
import re
import os
from datetime import timedelta

from conftest_helpers import login, make_user

from hub_ext.activity import recent
from hub_ext.ledger import Ledger, Request
from hub_ext.policy import Quota
from hub_ext.settings import Hubfront
from hub_ext.store import session_scope
from hub_ext.store.models import utcnow
from hub_ext.store.models_jobs import Job

API = "/portal/maintenance"
PAGE = "hub/portal/maintenance"


def hub_config(cfg, data):
    cfg.Runner.keep_per_group = 0  # clean now removes every finished job past the retention


def _reserve(kind, workload_id, username, group="mt-g"):
    return Ledger(Hubfront.instance().db_url).reserve(
        kind=kind, workload_id=workload_id, username=username, group=group, request=Request(cpu=0.5, memory=2**30),
        group_quota=Quota(), user_quota=Quota())


async def test_health_and_clean_now(app):
    # first in the module: JupyterHub's test fixtures remove the hub's services after each test
    await make_user(app, "mt-root", admin=True, groups=["mt-g"])
    db_url = Hubfront.instance().db_url
    long_ago = utcnow() - timedelta(days=400)
    with session_scope(db_url) as s:
        waiting = Job(group="mt-g", username="mt-root", name="mt-wait", command="true", image="base",
                      instance_type="cpu-small", timeout=60)
        s.add(waiting)
        s.flush()
        waiting_id = waiting.id
    admin = await login(app, "mt-root")
    health = await _runner_up(admin)
    # how many wait is whatever the runner left at that moment (it may have started mt-wait already)
    assert isinstance(health["queues"]["pending_jobs"], int) and health["retention"]["retention_days"] == 30
    assert health["runner"]["last_pass"]  # the runner says when its last reconcile pass ended
    for attempt in range(5):  # the runner's own pass purges expired jobs too: it may take one first
        with session_scope(db_url) as s:
            old = Job(group="mt-g", username="mt-root", name=f"mt-old-{attempt}", command="true", image="base",
                      instance_type="cpu-small", timeout=60, phase="Succeeded", finished=long_ago,
                      created=long_ago)
            s.add(old)
            s.flush()
            old_id = old.id
        r = await admin.api("POST", f"{API}/clean", json={})
        assert r.status_code == 200, r.text
        if r.json()["marked"]:
            break
    events = recent(db_url, username="mt-root", limit=20)  # mt-wait's own records may come after
    assert any(e.action == "cleaned" and "1 finished job(s)" in e.message for e in events)
    marked = r.json()["marked"]
    assert [j["id"] for j in marked] == [old_id] and marked[0]["name"] == f"mt-old-{attempt}"  # not mt-wait
    assert r.json()["keep_per_group"] == 0
    for _ in range(120):  # the runner removes it in the pass the call started
        with session_scope(db_url) as s:
            if s.get(Job, old_id) is None:
                break
        await asyncio.sleep(0.25)
    with session_scope(db_url) as s:
        assert s.get(Job, old_id) is None
        assert s.get(Job, waiting_id).delete_requested is False
        s.get(Job, waiting_id).delete_requested = True  # the runner cleans up after the test


async def test_recompute_removes_reservations_of_dead_workloads_and_lists_them(app):
    await make_user(app, "mt-root", admin=True, groups=["mt-g"])
    await make_user(app, "mt-live", groups=["mt-g"])
    live = app.users["mt-live"]
    await live.spawn("")  # a running notebook server: its reservation stays
    ledger = Ledger(Hubfront.instance().db_url)
    try:
        _reserve("notebook", "mt-live/", "mt-live")
        _reserve("notebook", "mt-ghost/mt-g", "mt-ghost")  # a server the hub does not run
        _reserve("job", "987654", "mt-live")  # no such job
        _reserve("deployment", "mt-gone@1#0", "mt-live")  # no such deployment
        _reserve("app", "424242@1", "mt-live")  # no such app
        _reserve("gadget", "mt-g/someapp", "mt-live")  # a kind this version does not know: not judged
        admin = await login(app, "mt-root")
        r = await admin.api("POST", f"{API}/recompute", json={})
        assert r.status_code == 200, r.text
        removed = r.json()["removed"]
        assert {(x["kind"], x["workload_id"]) for x in removed} == {
            ("notebook", "mt-ghost/mt-g"), ("job", "987654"), ("deployment", "mt-gone@1#0"), ("app", "424242@1")}
        ghost = next(x for x in removed if x["workload_id"] == "mt-ghost/mt-g")
        assert ghost["username"] == "mt-ghost" and ghost["group"] == "mt-g"
        assert ghost["cpu"] == 0.5 and ghost["memory"] == 2**30 and ghost["gpu"] == 0
        assert ledger.get("notebook", "mt-ghost/mt-g") is None and ledger.get("job", "987654") is None
        assert ledger.get("notebook", "mt-live/") is not None  # the live one is kept
        assert ledger.get("gadget", "mt-g/someapp") is not None
        again = await admin.api("POST", f"{API}/recompute")  # nothing left to fix (no body is fine too)
        assert again.status_code == 200 and again.json() == {"removed": []}
        events = recent(Hubfront.instance().db_url, username="mt-root", limit=5)
        assert any(e.kind == "maintenance" and e.action == "recomputed" and "4 reservation(s)" in e.message
                   for e in events)
        page = (await admin.get(PAGE)).text
        assert "Recompute now" in page and "Runner health" in page and "Pending jobs" in page
    finally:
        ledger.release("notebook", "mt-live/")
        ledger.release("gadget", "mt-g/someapp")
        await live.stop("")


async def test_only_admins_and_only_with_the_xsrf_token(app):
    await make_user(app, "mt-root", admin=True, groups=["mt-g"])
    await make_user(app, "mt-user", groups=["mt-g"])
    ledger = Ledger(Hubfront.instance().db_url)
    _reserve("notebook", "mt-nobody/mt-g", "mt-nobody")
    try:
        user = await login(app, "mt-user")
        for method, path in (("GET", "health"), ("POST", "recompute"), ("POST", "clean")):
            assert (await user.api(method, f"{API}/{path}", json={})).status_code == 403
        assert (await user.get(PAGE)).status_code == 403
        home = (await user.get("hub/home")).text
        assert "portal/maintenance" not in home  # neither the menu entry nor the Start menu shortcut
        admin = await login(app, "mt-root")
        assert (await admin.api("POST", f"{API}/recompute", xsrf=False, json={})).status_code == 403
        assert ledger.get("notebook", "mt-nobody/mt-g") is not None  # refused: nothing removed
        bad = await admin.api("POST", f"{API}/recompute", json={"force": True})
        assert bad.status_code == 400 and "force" in bad.json()["errors"]
        home = (await admin.get("hub/home")).text
        assert 'id="hf-maintenance-link"' in home and 'id="hf-shortcut-maintenance"' in home
    finally:
        ledger.release("notebook", "mt-nobody/mt-g")


async def _runner_up(session) -> dict:
    """The health answer once the runner service answers and has ended a pass (it starts with the hub)."""
    for _ in range(120):
        health = (await session.api("GET", f"{API}/health")).json()
        if health["runner"]["up"] and health["runner"]["last_pass"]:
            return health
        await asyncio.sleep(0.25)
    raise AssertionError(f"the runner never answered: {health['runner']}")


async def test_built_environments_nothing_uses_are_listed_and_removed(app):
    from pathlib import Path

    await make_user(app, "mt-root", admin=True, groups=["mt-g"])
    envs = Path(Hubfront.instance().data_dir) / "envs"
    unused, building = envs / "mt-old-000000000000", envs / "mt-new-111111111111"
    for path in (unused, building):
        (path / "bin").mkdir(parents=True)
    (unused / ".ready").write_text("")
    for path in (unused, building):
        os.utime(path, (0, 0))  # long ago
    admin = await login(app, "mt-root")
    listed = {e["name"]: e for e in (await admin.api("GET", f"{API}/environments")).json()["environments"]}
    assert listed[unused.name]["used"] is False and listed[building.name]["used"] is True
    page = (await admin.get(PAGE)).text
    assert f'data-env="{unused.name}" data-used="0"' in page and "Remove unused" in page
    assert (await admin.api("POST", f"{API}/environments/clean", xsrf=False)).status_code == 403
    assert unused.exists()
    r = await admin.api("POST", f"{API}/environments/clean", json={})
    assert r.status_code == 200 and [e["name"] for e in r.json()["removed"]] == [unused.name]
    assert not unused.exists() and building.exists()
    events = recent(Hubfront.instance().db_url, username="mt-root", limit=5)
    assert any(e.action == "environments removed" and unused.name in e.message for e in events)
    await make_user(app, "mt-user", groups=["mt-g"])
    user = await login(app, "mt-user")
    assert (await user.api("GET", f"{API}/environments")).status_code == 403
    assert (await user.api("POST", f"{API}/environments/clean", json={})).status_code == 403


async def test_the_page_shows_the_runners_last_answer_with_its_age_and_asks_again_in_the_background(app):
    import time

    from hub_ext.portal.common.latest import Reading
    from hub_ext.portal.maintenance.handlers import RUNNER_HEALTH

    await make_user(app, "mt-age", admin=True, groups=["mt-g"])
    admin = await login(app, "mt-age")
    # the last answer, 75 s old, said the runner was up (this hub's runner is no longer in its service map)
    RUNNER_HEALTH._kept["runner"] = Reading({"configured": True, "up": True, "last_pass": None,
                                             "message": "Answering"}, None, time.time() - 75)
    page = (await admin.get(PAGE)).text
    assert re.search(r"checked 1 min 1[5-9] s ago", page)  # the last answer at once, not a new call
    assert '<span class="badge text-bg-success">up</span>' in page
    for _ in range(100):  # that look asked the runner again, in the background
        if "checked just now" in (page := (await admin.get(PAGE)).text):
            break
        await asyncio.sleep(0.1)
    assert "checked just now" in page and "No runner service on this hub" in page
    assert "not answering" in page  # and a runner that does not answer is asked again at every look
