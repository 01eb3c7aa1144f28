"""Rough edges a new user hit (issue 24), as the pages show them on a MockHub: Logs / Errors names events
once and marks only the run that holds its reservation as running; groups are shown by display name; the
quick-launch panel says each thing once; the home's announcements can be dismissed there; the forced
password change ends with a way on to Home."""

import json
import re

from conftest_helpers import login, make_user
from hub_ext import activity
from hub_ext.settings import Hubfront
from hub_ext.store import session_scope
from hub_ext.store.models import Reservation


def db():
    return Hubfront.instance().db_url


def log_rows(html: str) -> list[dict]:
    rows = []
    for tr in re.findall(r'<tr class="hf-log[^"]*" data-id="\d+">(.*?)</tr>', html, re.S):
        cell = lambda cls: re.sub(r"<[^>]+>|\s+", " ", re.search(  # noqa: E731
            rf'<td class="[^"]*{cls}[^"]*">(.*?)</td>', tr, re.S).group(1)).strip()
        rows.append({"group": cell("hf-log-group"), "event": cell("hf-log-event"), "status": cell("hf-log-status"),
                     "message": cell("hf-log-message")})
    return rows


async def test_logs_name_each_event_once_and_only_the_current_run_is_running(app):
    await make_user(app, "pol-lee", groups=["pol-vision"], policies={"pol-vision": {"display_name": "Vision Lab"}})

    def event(kind, action, message, status="info", workload=None):
        activity.record(db(), username="pol-lee", group="pol-vision", kind=kind, action=action, message=message,
                        status=status, workload_id=workload)

    event("notebook", "started", "first run", "ok", "pol-lee/pol-vision")
    event("notebook", "stopped", "first run ended", "info", "pol-lee/pol-vision")
    with session_scope(db()) as s:  # the notebook runs again
        s.add(Reservation(kind="notebook", workload_id="pol-lee/pol-vision", username="pol-lee",
                          group="pol-vision", cpu=1, memory=1, gpu=0, gpu_devices=""))
    try:
        event("notebook", "started", "second run", "ok", "pol-lee/pol-vision")
        event("share", "share-revoked", "link revoked")
        lee = await login(app, "pol-lee")
        page = (await lee.get("hub/portal/logs")).text
        rows = {r["message"]: r for r in log_rows(page)}
        assert rows["link revoked"]["event"] == "Share revoked"  # not "share share-revoked"
        assert rows["second run"]["status"] == "running"
        assert rows["first run ended"]["status"] == "info" and rows["first run"]["status"] == "ok"
        assert rows["first run ended"]["event"] == "Notebook stopped"
        assert {r["group"] for r in rows.values()} == {"Vision Lab"}
        assert '<option value="pol-vision">Vision Lab</option>' in page  # the filter too
        api = (await lee.api("GET", "/portal/me/activities?group=pol-vision")).json()["activities"]
        assert [(a["message"], a["live"], a["verb"]) for a in api] == [
            ("link revoked", None, "revoked"), ("second run", "running", "started"),
            ("first run ended", None, "stopped"), ("first run", None, "started")]
    finally:
        with session_scope(db()) as s:
            s.query(Reservation).filter(Reservation.workload_id == "pol-lee/pol-vision").delete()


async def test_quick_launch_says_each_thing_once(app):
    await make_user(app, "pol-kim", groups=["pol-q", "pol-none"], policies={
        "pol-q": {"display_name": "Quick Team", "default_instance_type": "cpu-small"},
        "pol-none": {"images": ["base"]}})  # no quick-launch image allowed
    kim = await login(app, "pol-kim")
    assert (await kim.api("PUT", "/portal/me/context", data=json.dumps({"group": "pol-q"}))).status_code == 200
    home = (await kim.get("hub/home")).text
    assert "Starts a notebook in Quick Team with CPU small, the group's default instance type." in home
    assert (await kim.api("PUT", "/portal/me/context", data=json.dumps({"group": "pol-none"}))).status_code == 200
    panel = (await kim.get("hub/home")).text.split('id="hf-quicklaunch"')[1].split("</section>")[0]
    assert "No quick-launch image is allowed in this group." in panel
    assert "Starts a notebook" not in panel  # nothing to start: no note on how it would


async def test_an_announcement_dismissed_on_home_is_gone_there_and_as_a_banner(app):
    await make_user(app, "pol-root", admin=True)
    await make_user(app, "pol-ann", groups=["pol-a"])
    admin = await login(app, "pol-root")
    ids = []
    for title in ("Keep me", "Dismiss me"):
        r = await admin.api("POST", "/portal/announcements", data=json.dumps(
            {"title": title, "body": "text", "severity": "info", "published": True, "audience": ["pol-a"]}))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    ann = await login(app, "pol-ann")
    home = (await ann.get("hub/home")).text
    panel = home.split('id="hf-announcements-panel"')[1].split("</section>")[0]
    for ident in ids:  # each with the same dismiss button as the banners of other pages
        assert f'class="btn-close hf-dismiss align-self-center" aria-label="Dismiss" title="Dismiss"\n' \
               f'                  data-banner="announcement-{ident}"' in panel
    assert (await ann.api("POST", f"/portal/announcements/{ids[1]}/dismiss")).status_code == 200  # the button's call
    panel = (await ann.get("hub/home")).text.split('id="hf-announcements-panel"')[1].split("</section>")[0]
    assert "Keep me" in panel and "Dismiss me" not in panel
    assert "announcement-" + str(ids[1]) not in (await ann.get("hub/portal/notebooks")).text
    assert "Dismiss me" in (await ann.get("hub/portal/announcements")).text  # still readable there


async def test_the_forced_password_change_ends_with_a_way_on_to_home(app):
    from hub_ext.auth import account_state

    await make_user(app, "pol-tmp", password="Temp-pass-11", groups=["pol-t"])
    account_state.set_must_change_password(db(), "pol-tmp", True)
    s = await login(app, "pol-tmp", "Temp-pass-11")
    page = (await s.get("hub/portal/account/password?required=1")).text
    assert 'id="hf-password-required"' in page and 'id="hf-change-password"' in page
    r = await s.post("hub/portal/account/password", {"current_password": "Temp-pass-11", "new_password": "Own-pass-99x",
                                                     "confirm_password": "Own-pass-99x"}, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("portal/account/password?changed=1")
    s.cookies.update(r.cookies)  # this session goes on (the others were signed out)
    done = (await s.get("hub/portal/account/password?changed=1")).text
    assert "Password changed." in done and 'id="hf-password-continue"' in done
    assert re.search(r'href="[^"]*/hub/home" id="hf-password-continue">Continue to Home</a>', done)
    assert 'id="hf-change-password"' not in done and 'name="new_password"' not in done  # no emptied form
    assert (await s.get("hub/home", allow_redirects=False)).status_code == 200  # and Home is open


async def test_invitation_pages_name_the_group_by_its_display_name(app):
    await make_user(app, "pol-boss", groups=["pol-vis"], policies={"pol-vis": {"display_name": "Vision Team",
                                                                             "admins": ["pol-boss"]}})
    await make_user(app, "pol-guest", groups=["pol-elsewhere"])
    boss = await login(app, "pol-boss")
    r = await boss.post("hub/portal/invitations", {"group": "pol-vis", "expires_days": "7", "max_uses": "1"})
    assert r.status_code == 200 and "Invite Users to Vision Team" in r.text
    token = re.search(r'id="hf-invite-link" value="[^"]*/hub/invite/([^"]+)"', r.text).group(1)
    page = (await (await login(app, "pol-guest")).get(f"hub/invite/{token}")).text
    assert "Join group Vision Team" in page and "Join pol-vis" not in page
