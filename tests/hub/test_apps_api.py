"""Apps on a MockHub: the catalog, install/change/stop/start/uninstall by group admins, members read,
other groups 404, bad input 400 naming the field, binding an MLflow app as the registry, activities,
and the Apps page."""

import json

from jupyterhub import orm
from sqlalchemy import select

from conftest_helpers import login, make_user
from hub_ext.activity import recent
from hub_ext.apps.templates import Apps
from hub_ext.groups import group_policy
from hub_ext.settings import Hubfront
from hub_ext.store.engine import read_scope
from hub_ext.store.models_apps import App


async def setup(app, g):
    await make_user(app, f"{g}-boss", groups=[g], policies={g: {"admins": [f"{g}-boss"]}})
    await make_user(app, f"{g}-mem", groups=[g])
    await make_user(app, f"{g}-out", groups=[f"{g}-other"], policies={f"{g}-other": {}})
    return await login(app, f"{g}-boss"), await login(app, f"{g}-mem"), await login(app, f"{g}-out")


def row(group: str, name: str) -> App | None:
    with read_scope(Hubfront.instance().db_url) as s:
        return s.scalars(select(App).where(App.group == group, App.name == name)).first()


async def test_templates_are_the_enabled_catalog(app):
    boss, _, _ = await setup(app, "ap-t")
    templates = {t["name"]: t for t in (await boss.api("GET", "/portal/apps/templates")).json()["templates"]}
    assert list(templates) == ["mlflow", "streamlit", "code-server"]  # label-studio: documented, not enabled
    assert templates["mlflow"]["registry"] and templates["mlflow"]["icon"].startswith("<svg")
    assert templates["code-server"]["base_prefix"] is False and templates["code-server"]["npm"]
    assert templates["streamlit"]["env"][0]["name"] == "STREAMLIT_APP"


async def test_install_change_stop_uninstall(app):
    boss, member, outsider = await setup(app, "ap-a")
    api = "/portal/groups/ap-a/apps"
    r = await boss.api("POST", api, data=json.dumps({"name": "tracking", "template": "mlflow",
                                                      "env": {"MLFLOW_WORKERS": "2"}, "access": "users"}))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["phase"] == "Installing" and body["access"] == "users" and body["env"] == {"MLFLOW_WORKERS": "2"}
    own = Apps.instance().origin_of("ap-a", "tracking") + "/"  # its own origin, never the hub's
    assert own.startswith("http://tracking--ap-a.apps.localhost:") and body["url"] == body["path"] == own
    assert body["installed_by"] == "ap-a-boss" and body["revision"] == 1
    # members read it (and its log); other groups see nothing at all
    listed = (await member.api("GET", api)).json()
    assert [a["name"] for a in listed["apps"]] == ["tracking"] and listed["may_change"] is False
    assert (await member.api("GET", api + "/tracking")).status_code == 200
    assert (await member.api("GET", api + "/tracking/log")).status_code == 200
    for method, path in [("GET", api), ("GET", api + "/tracking"), ("DELETE", api + "/tracking"),
                         ("POST", api + "/tracking/stop"), ("GET", api + "/tracking/log")]:
        assert (await outsider.api(method, path, data="{}" if method == "POST" else None)).status_code == 404
    # plain members do not install, change, stop or remove
    assert (await member.api("POST", api, data=json.dumps({"name": "mine", "template": "mlflow"}))).status_code == 403
    assert (await member.api("PATCH", api + "/tracking", data='{"access": "public"}')).status_code == 403
    assert (await member.api("POST", api + "/tracking/stop", data="{}")).status_code == 403
    assert (await member.api("DELETE", api + "/tracking")).status_code == 403
    # a name is one app per group
    r = await boss.api("POST", api, data=json.dumps({"name": "tracking", "template": "streamlit"}))
    assert r.status_code == 409 and "name" in r.json()["errors"]
    # settings: access changes in place, environment bumps the revision (a restart), both kept
    r = await boss.api("PATCH", api + "/tracking", data='{"access": "public"}')
    assert r.json()["access"] == "public" and r.json()["revision"] == 1
    r = await boss.api("PATCH", api + "/tracking", data='{"env": {"MLFLOW_WORKERS": "3"}}')
    assert r.json()["revision"] == 2 and r.json()["env"] == {"MLFLOW_WORKERS": "3"}
    # an idle timeout (issue 25): off by default, in place, "never" turns it off, a bad one named
    assert r.json()["idle_timeout"] is None
    r = await boss.api("PATCH", api + "/tracking", data='{"idle_timeout": "30m"}')
    assert r.json()["idle_timeout"] == 1800 and r.json()["revision"] == 2
    r = await boss.api("PATCH", api + "/tracking", data='{"idle_timeout": "soon"}')
    assert r.status_code == 400 and r.json()["errors"]["idle_timeout"].startswith("Idle timeout: invalid duration")
    r = await boss.api("PATCH", api + "/tracking", data='{"idle_timeout": "never"}')
    assert r.json()["idle_timeout"] is None
    r = await boss.api("POST", api + "/tracking/stop", data="{}")
    assert r.status_code == 202 and r.json()["stopped"] is True and r.json()["phase"] == "Stopping"
    r = await boss.api("POST", api + "/tracking/start")
    assert r.status_code == 202 and r.json()["stopped"] is False
    assert row("ap-a", "tracking").access == "public"
    # uninstall: hidden at once; the data kept unless asked
    assert (await boss.api("DELETE", api + "/tracking")).status_code == 204
    assert (await boss.api("GET", api + "/tracking")).status_code == 404
    gone = row("ap-a", "tracking")
    assert gone.delete_requested and not gone.delete_data
    actions = [(a.kind, a.action) for a in recent(Hubfront.instance().db_url, group="ap-a", limit=50)]
    for action in ("installed", "updated", "stopping", "starting", "uninstalled"):
        assert ("app", action) in actions


async def test_bad_input_names_the_field(app):
    boss, _, _ = await setup(app, "ap-b")
    api = "/portal/groups/ap-b/apps"
    r = await boss.api("POST", api, data=json.dumps({"name": "No Good", "template": "mlflow", "colour": "red"}))
    assert r.status_code == 400 and {"name", "colour"} <= set(r.json()["errors"])
    r = await boss.api("POST", api, data=json.dumps({"name": "x1", "template": "label-studio"}))
    assert r.status_code == 400 and "template" in r.json()["errors"]
    r = await boss.api("POST", api, data=json.dumps({"name": "x1", "template": "mlflow", "env": {"NOPE": "1"}}))
    assert r.status_code == 400 and "env.NOPE" in r.json()["errors"]
    r = await boss.api("POST", api, data=json.dumps({"name": "x1", "template": "mlflow", "instance_type": "huge"}))
    assert r.status_code == 400 and "instance_type" in r.json()["errors"]
    r = await boss.api("POST", api, data=json.dumps({"name": "x1", "template": "mlflow", "access": "world"}))
    assert r.status_code == 400 and "access" in r.json()["errors"]
    assert (await boss.api("POST", api, data=json.dumps({"name": "x1", "template": "mlflow"}))).status_code == 201
    r = await boss.api("DELETE", api + "/x1?delete_data=maybe")
    assert r.status_code == 400 and "delete_data" in r.json()["errors"]
    r = await boss.api("POST", api + "/x1/stop", data='{"now": true}')
    assert r.status_code == 400 and "now" in r.json()["errors"]
    assert (await boss.api("DELETE", api + "/x1?delete_data=1")).status_code == 204
    assert row("ap-b", "x1").delete_data


async def test_bind_an_mlflow_app_as_the_models_registry(app):
    boss, member, _ = await setup(app, "ap-r")
    api = "/portal/groups/ap-r/apps"
    await boss.api("POST", api, data=json.dumps({"name": "mlflow", "template": "mlflow"}))
    await boss.api("POST", api, data=json.dumps({"name": "board", "template": "streamlit"}))
    r = await boss.api("POST", api + "/board/registry", data="{}")
    assert r.status_code == 409
    assert (await member.api("POST", api + "/mlflow/registry", data="{}")).status_code == 403
    r = await boss.api("POST", api + "/mlflow/registry", data="{}")
    own = Apps.instance().origin_of("ap-r", "mlflow")
    assert r.status_code == 200 and r.json()["bound"] and r.json()["mlflow_tracking_uri"] == own
    policy = group_policy(orm.Group.find(app.db, "ap-r"))
    assert policy.mlflow_tracking_uri == own
    listed = {a["name"]: a["bound_registry"] for a in (await member.api("GET", api)).json()["apps"]}
    assert listed == {"mlflow": True, "board": False}
    r = await boss.api("POST", api + "/mlflow/registry", data='{"bind": false}')
    assert r.json()["bound"] is False and r.json()["mlflow_tracking_uri"] == ""
    await boss.api("POST", api + "/mlflow/registry", data="{}")
    assert (await boss.api("DELETE", api + "/mlflow")).status_code == 204  # uninstalling unbinds
    app.db.expire_all()
    assert group_policy(orm.Group.find(app.db, "ap-r")).mlflow_tracking_uri == ""
    assert any(a.action == "registry" for a in recent(Hubfront.instance().db_url, group="ap-r"))


async def test_apps_page(app):
    boss, member, _ = await setup(app, "ap-p")
    await boss.api("POST", "/portal/groups/ap-p/apps", data=json.dumps({"name": "lab", "template": "streamlit"}))
    for client, admin in ((boss, True), (member, False)):
        await client.api("PUT", "/portal/me/context", data=json.dumps({"group": "ap-p"}))
        html = (await client.get("hub/portal/apps")).text
        assert "MLflow tracking server" in html and 'data-name="lab"' in html
        assert ("hf-install-form" in html) is admin and ("hf-app-uninstall" in html) is admin
        home = (await client.get("hub/home")).text  # the side menu's entry and the Start menu's shortcut
        assert 'portal/apps"' in home and 'id="hf-shortcut-apps"' in home
