"""Preferences: default group applied at login, time zone, validation; About page."""

import json

from conftest_helpers import login, make_user


async def test_default_group_is_put_in_focus_at_login(app):
    await make_user(app, "pref-ann", groups=["pref-a", "pref-b", "pref-c"])
    s = await login(app, "pref-ann")
    assert (await s.api("GET", "/portal/me/context")).json()["group"] == "pref-a"
    r = await s.api("PUT", "/portal/me/preferences", data=json.dumps({"default_group": "pref-c"}))
    assert r.status_code == 200 and r.json()["default_group"] == "pref-c"
    # switching around during the session does not change the preference ...
    await s.api("PUT", "/portal/me/context", data=json.dumps({"group": "pref-b"}))
    # ... but the next login starts in the default group
    s = await login(app, "pref-ann")
    assert 'data-group="pref-c"' in (await s.get("hub/home")).text
    # "the group I used last": no default, the stored context stays
    await s.api("PUT", "/portal/me/context", data=json.dumps({"group": "pref-b"}))
    await s.api("PUT", "/portal/me/preferences", data=json.dumps({"default_group": None}))
    s = await login(app, "pref-ann")
    assert (await s.api("GET", "/portal/me/context")).json()["group"] == "pref-b"


async def test_bad_preferences_name_the_field_and_change_nothing(app):
    await make_user(app, "pref-bob", groups=["pref-x"])
    await make_user(app, "pref-eve", groups=["pref-secret"])
    s = await login(app, "pref-bob")
    await s.api("PUT", "/portal/me/preferences", data=json.dumps({"timezone": "Europe/Paris"}))
    r = await s.api("PUT", "/portal/me/preferences", data=json.dumps({"timezone": "Mars/Olympus"}))
    assert r.status_code == 400 and "timezone" in r.json()["errors"]
    r = await s.api("PUT", "/portal/me/preferences", data=json.dumps({"default_group": "pref-secret"}))
    assert r.status_code == 400 and "default_group" in r.json()["errors"]
    r = await s.api("PUT", "/portal/me/preferences", data=json.dumps({"colour": "blue"}))
    assert r.status_code == 400 and "colour" in r.json()["errors"]
    assert (await s.api("GET", "/portal/me/preferences")).json() == {"default_group": None, "timezone": "Europe/Paris"}
    r = await s.api("PUT", "/portal/me/preferences", xsrf=False, data=json.dumps({"timezone": "UTC"}))
    assert r.status_code == 403


async def test_preferences_page_form(app):
    await make_user(app, "pref-cy", groups=["pref-y", "pref-z"])
    s = await login(app, "pref-cy")
    page = (await s.get("hub/portal/preferences")).text
    assert "Default group at login" in page and "Asia/Tokyo" in page
    r = await s.post("hub/portal/preferences", {"default_group": "pref-z", "timezone": "Asia/Tokyo"})
    assert r.status_code == 200 and "Preferences saved." in r.text
    assert (await s.api("GET", "/portal/me/preferences")).json() == {"default_group": "pref-z", "timezone": "Asia/Tokyo"}
    r = await s.post("hub/portal/preferences", {"default_group": "pref-z", "timezone": "Nowhere/Land"})
    assert r.status_code == 400 and "unknown time zone" in r.text
    r = await s.post("hub/portal/preferences", {"default_group": "", "timezone": ""}, xsrf=False)
    assert r.status_code == 403
    assert (await s.api("GET", "/portal/me/preferences")).json()["timezone"] == "Asia/Tokyo"


async def test_about_and_side_menu(app):
    import jupyterhub

    import hub_ext

    await make_user(app, "pref-dan", groups=["pref-d"])
    s = await login(app, "pref-dan")
    page = (await s.get("hub/portal/about")).text
    assert f'id="hf-about-hubfront">{hub_ext.__version__}<' in page
    assert f'id="hf-about-jupyterhub">{jupyterhub.__version__}<' in page
    assert "Free tier" in page and "Manage license" not in page
    menu = page.split('id="hf-sidemenu"')[1].split("</nav>")[0]
    for entry in ("Announcements", "System Resources", "Logs / Errors", "Preferences", "About"):
        assert entry in menu


async def test_login_hook_runs_an_earlier_hook_first_and_never_blocks_login(sqlite_url, monkeypatch):
    from types import SimpleNamespace

    from hub_ext.portal.preferences import prefs

    seen = []

    async def earlier(authenticator, handler, authentication):
        seen.append(authentication["name"])
        return {**authentication, "auth_state": {"from": "earlier"}}

    class BrokenDB:
        def query(self, *a, **kw):
            raise RuntimeError("database down")

    hook = prefs.default_group_hook(earlier)
    result = await hook(None, SimpleNamespace(db=BrokenDB()), {"name": "hook-user"})
    assert seen == ["hook-user"] and result == {"name": "hook-user", "auth_state": {"from": "earlier"}}
    assert await prefs.default_group_hook()(None, SimpleNamespace(db=BrokenDB()), None) is None
