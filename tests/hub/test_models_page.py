"""The Models page and its API on a MockHub, reading a real MLflow tracking server (tests/support_mlflow.py):
what members see, what they are told when no server is set or it is down, who sees which group, and
the tracking URI set in the Groups console; descriptions rendered from Markdown, safely."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from datetime import datetime
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
from jupyterhub.tests.utils import async_requests, public_url

from conftest_helpers import login, make_user
from hub_ext.settings import Hubfront
from support_mlflow import mlflow_server  # noqa: F401  (the fixture)

MODEL = "hfml-hub-classifier"


@pytest.fixture(scope="module")
def registered(mlflow_server):  # noqa: F811
    version = mlflow_server.register_sklearn_model(MODEL, alias="champion", description="Big or small")
    created = mlflow_server.client().get_model_version(MODEL, version).creation_timestamp
    return {"url": mlflow_server.url, "version": version, "created_ms": created}


def closed_port_uri() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def member_of(app, user, group, policy):
    await make_user(app, user, groups=[group], policies={group: policy})
    return await login(app, user)


async def test_members_see_the_groups_models_with_versions_aliases_and_deploy(app, registered):
    s = await member_of(app, "hfml-ann", "hfml-lab",
                        {"mlflow_tracking_uri": registered["url"], "deployments_enabled": True})
    await s.api("PUT", "/portal/me/preferences", data=json.dumps({"timezone": "Asia/Tokyo"}))
    home = (await s.get("hub/home")).text
    assert re.search(r'href="[^"]*/hub/models"', home)  # the side menu's entry
    r = await s.get("hub/models")
    assert r.status_code == 200
    page = r.text
    assert MODEL in page and "Big or small" in page and "@champion" in page
    assert f"Version {registered['version']}" in page
    deploy = re.search(r'class="btn btn-sm btn-outline-primary hf-deploy" href="([^"]+)"', page).group(1)
    assert re.fullmatch(r"/.*/hub/portal/deployments/new\?model_uri=[^&]+", deploy)
    assert unquote(deploy.split("=", 1)[1]) == f"models:/{MODEL}/{registered['version']}"
    tokyo = datetime.fromtimestamp(registered["created_ms"] / 1000, ZoneInfo("Asia/Tokyo"))
    assert tokyo.strftime("%Y-%m-%d %H:%M") in page and "Asia/Tokyo" in page

    r = await s.api("GET", "/portal/groups/hfml-lab/models")
    assert r.status_code == 200
    body = r.json()
    assert body["configured"] is True and body["tracking_uri"] == registered["url"]
    [model] = [m for m in body["models"] if m["name"] == MODEL]
    assert model["aliases"] == {"champion": registered["version"]}
    version = model["versions"][0]
    assert version["aliases"] == ["champion"] and version["status"] == "READY" and version["run_id"]
    assert version["deploy_url"] == deploy and version["model_uri"] == f"models:/{MODEL}/{registered['version']}"


async def test_descriptions_are_rendered_from_markdown_and_nothing_in_them_reaches_the_page_as_markup(
        app, registered, mlflow_server):  # noqa: F811
    client = mlflow_server.client()
    name = "hfml-hub-markdown"
    client.create_registered_model(name, description="A **bold** model <script>alert('model')</script>")
    logged = client.get_model_version(MODEL, registered["version"])
    client.create_model_version(name, logged.source, run_id=logged.run_id, model_id=logged.source.split("/")[-1],
                                description="Fit on *iris*. [notes](javascript:alert(1)) <img src=x onerror=alert(2)>")
    s = await member_of(app, "hfml-md", "hfml-md-lab", {"mlflow_tracking_uri": registered["url"]})
    page = (await s.get("hub/models")).text
    block = page.split(f'data-name="{name}"')[1].split("</tbody>")[0]
    model = re.search(r'class="[^"]*hf-model-description">(.*?)</div>', block, re.S).group(1)
    version = re.search(r'class="[^"]*hf-version-description">(.*?)</div>', block, re.S).group(1)
    assert "<strong>bold</strong>" in model and "<em>iris</em>" in version
    assert "<script" not in block and "<img" not in block and 'href="javascript' not in block
    # the API hands the descriptions as MLflow keeps them (Markdown)
    body = (await s.api("GET", "/portal/groups/hfml-md-lab/models")).json()
    [listed] = [m for m in body["models"] if m["name"] == name]
    assert listed["description"].startswith("A **bold** model") and listed["versions"][0]["description"].startswith(
        "Fit on *iris*")


async def test_without_deployments_the_version_cannot_be_deployed_from_here(app, registered):
    s = await member_of(app, "hfml-dee", "hfml-nodeploy", {"mlflow_tracking_uri": registered["url"]})
    page = (await s.get("hub/models")).text
    assert MODEL in page and "Deployments are not enabled for this group" in page
    assert "deployments/new" not in page


async def test_no_server_set_says_how_to_set_one_for_members_and_group_admins(app):
    s = await member_of(app, "hfml-bo", "hfml-plain", {"admins": ["hfml-gina"]})
    page = (await s.get("hub/models")).text
    assert "No MLflow tracking server is set for this group" in page
    assert "admins: hfml-gina" in page and "c.Hubfront.mlflow_tracking_uri" in page
    r = await s.api("GET", "/portal/groups/hfml-plain/models")
    assert r.status_code == 200 and r.json()["configured"] is False and r.json()["models"] == []
    assert "Groups console" in r.json()["message"]
    gina = await member_of(app, "hfml-gina", "hfml-plain", {"admins": ["hfml-gina"]})
    page = (await gina.get("hub/models")).text
    assert "portal/admin/groups/hfml-plain#hf-p-mlflow_tracking_uri" in page


async def test_the_platforms_server_serves_groups_without_their_own(app, registered):
    s = await member_of(app, "hfml-cy", "hfml-platform", {})
    hubfront = Hubfront.instance()
    hubfront.mlflow_tracking_uri = registered["url"]
    try:
        r = await s.api("GET", "/portal/groups/hfml-platform/models")
        assert r.status_code == 200 and MODEL in {m["name"] for m in r.json()["models"]}
        assert MODEL in (await s.get("hub/models")).text
    finally:
        hubfront.mlflow_tracking_uri = ""


async def test_a_server_that_is_down_is_reported_with_its_reason_never_a_500(app):
    uri = closed_port_uri()
    s = await member_of(app, "hfml-dan", "hfml-down", {"mlflow_tracking_uri": uri})
    start = time.monotonic()
    r = await s.get("hub/models")
    assert r.status_code == 200 and time.monotonic() - start < 10
    assert "could not be reached" in r.text and "Connection refused" in r.text and uri in r.text
    assert "Seen just now" in r.text and 'id="hf-models-retry"' in r.text  # and when, and how to try again
    r = await s.api("GET", "/portal/groups/hfml-down/models")
    assert r.status_code == 502
    assert r.json()["status"] == 502 and "Connection refused" in r.json()["message"]


async def test_another_groups_models_are_not_found_and_no_group_no_page(app, registered):
    await make_user(app, "hfml-eve", groups=["hfml-other"])
    await make_user(app, "hfml-root", admin=True)
    eve = await login(app, "hfml-eve")
    await member_of(app, "hfml-fay", "hfml-secret", {"mlflow_tracking_uri": registered["url"]})
    assert (await eve.api("GET", "/portal/groups/hfml-secret/models")).status_code == 404
    assert (await eve.api("GET", "/portal/groups/no-such-group/models")).status_code == 404
    # a hub admin is no member: the API is the members' (their models, their deployments)
    root = await login(app, "hfml-root")
    assert (await root.api("GET", "/portal/groups/hfml-secret/models")).status_code == 404
    assert (await root.get("hub/models")).status_code == 404  # no group at all
    r = await async_requests.get(public_url(app) + "hub/api/portal/groups/hfml-other/models",
                                 headers={"Authorization": "token nope"})
    assert r.status_code == 403


async def test_the_tracking_uri_is_set_in_the_groups_console(app):
    await make_user(app, "hfml-admin", admin=True, groups=["hfml-set"], policies={"hfml-set": {"admins": ["hfml-gus"]}})
    root = await login(app, "hfml-admin")
    # what the console's form sends (one PATCH …/policy with the field): a bad one comes back named
    r = await root.api("PATCH", "/portal/groups/hfml-set/policy", data=json.dumps({"mlflow_tracking_uri": "ftp://mlflow"}))
    assert r.status_code == 400 and "must start with http://" in r.json()["errors"]["mlflow_tracking_uri"]
    r = await root.api("PATCH", "/portal/groups/hfml-set/policy",
                       data=json.dumps({"mlflow_tracking_uri": "http://mlflow.example.org:5000"}))
    assert r.status_code == 200
    policy = (await root.api("GET", "/portal/groups/hfml-set/policy")).json()["policy"]
    assert policy["mlflow_tracking_uri"] == "http://mlflow.example.org:5000"
    assert policy["display_name"] == "" and policy["admins"] == ["hfml-gus"]  # the rest is kept

    await make_user(app, "hfml-gus", groups=["hfml-set"])
    gus = await login(app, "hfml-gus")
    page = (await gus.get("hub/portal/admin/groups/hfml-set")).text
    field = re.search(r'<input[^>]*data-policy="mlflow_tracking_uri"[^>]*>', page).group(0)
    assert 'value="http://mlflow.example.org:5000"' in field and "disabled" not in field  # the group admin's
    r = await gus.api("PATCH", "/portal/groups/hfml-set/policy", data=json.dumps({"mlflow_tracking_uri": ""}))
    assert r.status_code == 200
    assert (await gus.api("GET", "/portal/groups/hfml-set/policy")).json()["policy"]["mlflow_tracking_uri"] == ""
    r = await gus.api("PATCH", "/portal/groups/hfml-set/policy",
                      data=json.dumps({"mlflow_tracking_uri": "https://mlflow.example.org"}))
    assert r.status_code == 200 and r.json()["policy"]["mlflow_tracking_uri"] == "https://mlflow.example.org"
    # a registry in this machine's files could be another group's: hub admins only
    r = await gus.api("PATCH", "/portal/groups/hfml-set/policy",
                      data=json.dumps({"mlflow_tracking_uri": "sqlite:////srv/other/mlflow.db"}))
    assert r.status_code == 403 and "hub administrators" in r.json()["message"]


async def test_the_page_shows_the_last_listing_and_its_age_reads_it_again_in_the_background_or_on_refresh(
        app, registered, mlflow_server):  # noqa: F811
    from hub_ext.portal.models.handlers import LISTINGS

    s = await member_of(app, "hfml-kit", "hfml-kept", {"mlflow_tracking_uri": registered["url"]})
    page = (await s.get("hub/models")).text
    assert MODEL in page and "Listed just now" in page and 'id="hf-models-refresh"' in page
    later = "hfml-kept-later"
    mlflow_server.register_sklearn_model(later)  # registered after the page read the registry
    page = (await s.get("hub/models")).text
    assert MODEL in page and later not in page  # the last listing, at once: no wait for the registry
    assert later in (await s.get("hub/models?refresh=1")).text  # Refresh reads it now
    another = "hfml-kept-latest"
    mlflow_server.register_sklearn_model(another)
    LISTINGS.ttl = 0.0  # every look is past the listing's age: each starts a read in the background
    try:
        deadline = time.monotonic() + 60
        while another not in (await s.get("hub/models")).text:
            assert time.monotonic() < deadline, "the listing was never read again in the background"
            await asyncio.sleep(0.2)
    finally:
        LISTINGS.ttl = 30.0
