"""Recent activities (home panel + API) and the Logs / Errors page on a MockHub."""

import json
import re

from conftest_helpers import login, make_user

from hub_ext import activity
from hub_ext.settings import Hubfront
from hub_ext.store import session_scope
from hub_ext.store.models import Reservation


def db():
    return Hubfront.instance().db_url


def recent_panel(html: str) -> str:
    return html.split('id="hf-recent"')[1].split("</section>")[0]


async def test_api_lists_the_groups_activities_newest_first(app):
    await make_user(app, "act-ann", groups=["act-red", "act-blue"])
    await make_user(app, "act-bob", groups=["act-red"])
    await make_user(app, "act-eve", groups=["act-secret"])
    activity.record(db(), username="act-bob", group="act-red", kind="job", action="created", message="Job one")
    activity.record(db(), username="act-ann", group="act-red", kind="notebook", action="failed",
                    message="Notebook failed to start", status="error")
    activity.record(db(), username="act-eve", group="act-secret", kind="job", action="created", message="Secret job")
    s = await login(app, "act-ann")
    r = await s.api("GET", "/portal/me/activities?group=act-red")
    assert r.status_code == 200  # her own, not what bob did
    assert [a["message"] for a in r.json()["activities"]] == ["Notebook failed to start"]
    assert r.json()["activities"][0]["status"] == "error"
    r = await (await login(app, "act-bob")).api("GET", "/portal/me/activities?group=act-red")
    assert [a["message"] for a in r.json()["activities"]] == ["Job one"]
    # a group the caller is not in: 404, and nothing of it leaks
    r = await s.api("GET", "/portal/me/activities?group=act-secret")
    assert r.status_code == 404 and "Secret job" not in r.text
    # default: the group in focus
    await s.api("PUT", "/portal/me/context", data=json.dumps({"group": "act-blue"}))
    r = await s.api("GET", "/portal/me/activities")
    assert r.json() == {"group": "act-blue", "scope": "mine", "activities": []}
    r = await s.api("GET", "/portal/me/activities?group=act-red&limit=lots")
    assert r.status_code == 400 and "limit" in r.json()["errors"]
    r = await s.api("GET", "/portal/me/activities?group=act-red&limit=1")
    assert [a["message"] for a in r.json()["activities"]] == ["Notebook failed to start"]


async def test_home_recent_panel_shows_live_status_and_links(app):
    await make_user(app, "act-cy", groups=["act-green"])
    activity.record(db(), username="act-cy", group="act-green", kind="notebook", action="started",
                    message="Notebook act-green started", status="ok", workload_id="act-cy/act-green",
                    link="/user/act-cy/act-green/")
    activity.record(db(), username="act-cy", group="act-green", kind="job", action="created",
                    message="Sneaky link", link="javascript:alert(1)")
    s = await login(app, "act-cy")
    panel = recent_panel((await s.get("hub/home")).text)
    assert "Recent activities" in (await s.get("hub/home")).text
    assert '<a href="/user/act-cy/act-green/" class="hf-activity-message">Notebook act-green started</a>' in panel
    assert "javascript:" not in panel and "Sneaky link" in panel
    assert ">running<" not in panel  # nothing holds a reservation yet
    with session_scope(db()) as ses:
        ses.add(Reservation(kind="notebook", workload_id="act-cy/act-green", username="act-cy",
                            group="act-green", cpu=1, memory=1, gpu=0, gpu_devices=""))
    try:
        # the notebook runs again: the event of that run (recorded once it was reserved) is the running one
        activity.record(db(), username="act-cy", group="act-green", kind="notebook", action="started",
                        message="Notebook act-green started again", status="ok", workload_id="act-cy/act-green")
        panel = recent_panel((await s.get("hub/home")).text)
        assert panel.count('hf-live">running</span>') == 1
        api = (await s.api("GET", "/portal/me/activities?group=act-green")).json()["activities"]
        assert [a["live"] for a in api] == ["running", None, None]  # not the earlier run's event
    finally:
        with session_scope(db()) as ses:
            ses.query(Reservation).filter(Reservation.workload_id == "act-cy/act-green").delete()


async def test_times_are_shown_in_the_users_time_zone(app):
    await make_user(app, "act-tz", groups=["act-tzg"])
    activity.record(db(), username="act-tz", group="act-tzg", kind="job", action="created", message="tz")
    s = await login(app, "act-tz")
    assert re.search(r"\d{2}:\d{2} UTC", recent_panel((await s.get("hub/home")).text))
    r = await s.api("PUT", "/portal/me/preferences", data=json.dumps({"timezone": "Asia/Tokyo"}))
    assert r.status_code == 200
    assert re.search(r"\d{2}:\d{2} JST", recent_panel((await s.get("hub/home")).text))
    item = (await s.api("GET", "/portal/me/activities?group=act-tzg")).json()["activities"][0]
    assert item["time"].endswith("JST") and item["created"].endswith("+00:00")


async def test_logs_show_own_entries_filtered_and_admins_see_everyone(app):
    await make_user(app, "log-una", groups=["log-a", "log-b"])
    await make_user(app, "log-vic", groups=["log-a"])
    await make_user(app, "log-root", admin=True)
    activity.record(db(), username="log-una", group="log-a", kind="notebook", action="refused", status="error",
                    message="GPU: used 3 + requested 2 > limit 4 (group log-a)")
    activity.record(db(), username="log-una", group="log-b", kind="job", action="created", message="Una job in b")
    activity.record(db(), username="log-vic", group="log-a", kind="job", action="failed", status="error",
                    message="Vic job failed")
    s = await login(app, "log-una")
    page = (await s.get("hub/portal/logs")).text
    assert "Una job in b" in page and "GPU: used 3 + requested 2 &gt; limit 4 (group log-a)" in page
    assert "Vic job failed" not in page
    assert page.index("Una job in b") < page.index("GPU: used 3")  # newest first
    page = (await s.get("hub/portal/logs?group=log-b")).text
    assert "Una job in b" in page and "GPU: used 3" not in page
    page = (await s.get("hub/portal/logs?errors=1")).text
    assert "GPU: used 3" in page and "Una job in b" not in page
    assert (await s.get("hub/portal/logs?user=log-vic")).status_code == 403
    admin = await login(app, "log-root")
    page = (await admin.get("hub/portal/logs?errors=1")).text
    assert "Vic job failed" in page and "GPU: used 3" in page
    page = (await admin.get("hub/portal/logs?user=log-vic")).text
    assert "Vic job failed" in page and "Una job in b" not in page


async def test_logs_page_back_in_time(app):
    await make_user(app, "log-pager", groups=["log-p"])
    for i in range(55):
        activity.record(db(), username="log-pager", group="log-p", kind="job", action="created",
                        message=f"paged job #{i:02d}")
    s = await login(app, "log-pager")
    page = (await s.get("hub/portal/logs")).text
    assert "paged job #54" in page and "paged job #05" in page and "paged job #04" not in page
    older = re.search(r'id="hf-logs-older"\s+href="([^"]+)"', page).group(1).replace("&amp;", "&")
    page = (await s.get("hub/portal/logs" + older)).text
    assert "paged job #04" in page and "paged job #00" in page and "paged job #05" not in page
    assert (await s.get("hub/portal/logs?before=x")).status_code == 400


async def test_group_admins_may_see_what_members_did_but_never_their_errors(app):
    await make_user(app, "act-lead", groups=["act-team"], policies={"act-team": {"admins": ["act-lead"]}})
    await make_user(app, "act-mem", groups=["act-team"])
    activity.record(db(), username="act-mem", group="act-team", kind="job", action="created", message="Member job")
    activity.record(db(), username="act-mem", group="act-team", kind="notebook", action="failed",
                    message="Member's private failure", status="error")
    activity.record(db(), username="act-lead", group="act-team", kind="notebook", action="failed",
                    message="Lead's own failure", status="error")
    lead = await login(app, "act-lead")
    mine = (await lead.api("GET", "/portal/me/activities?group=act-team")).json()["activities"]
    assert [a["message"] for a in mine] == ["Lead's own failure"]
    everyone = (await lead.api("GET", "/portal/me/activities?group=act-team&scope=group")).json()["activities"]
    assert [a["message"] for a in everyone] == ["Lead's own failure", "Member job"]
    home = (await lead.get("hub/home")).text
    assert 'id="hf-recent-everyone"' in home and "Member job" not in recent_panel(home)
    member = await login(app, "act-mem")
    r = await member.api("GET", "/portal/me/activities?group=act-team&scope=group")
    assert r.status_code == 403
    assert 'id="hf-recent-everyone"' not in (await member.get("hub/home")).text
    r = await member.api("GET", "/portal/me/activities?group=act-team&scope=all")
    assert r.status_code == 400 and "scope" in r.json()["errors"]
