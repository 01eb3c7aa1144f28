"""On Kubernetes the hub's Shared Files work only where the pods see the same tree.

A MockHub configured with the Kubernetes spawner (``hubfront-kube``; no cluster is needed, none
is reached). Without ``KubeStorage.data_claim`` each group's storage is a claim the hub never
sees, so the Shared Files menu entry and the Start menu's "Upload files" are gone and the page,
the files, uploads and share-link APIs and the public links answer 404 saying why. With the data
claim the pods mount ``groups/<group>`` of the hub's own data dir, and it all works.
"""

from __future__ import annotations

import base64
from contextlib import contextmanager
from unittest import mock
from urllib.parse import urljoin

import kubespawner.spawner
import pytest
from jupyterhub.tests.utils import async_requests, public_url

from conftest_helpers import login, make_user
from hub_ext.settings import Hubfront
from hub_ext.storage.kube import UNREACHABLE

spawner_class = "hubfront-kube"  # read by tests/hub/conftest.py
GROUP = "gsr-lab"
FILES = f"/portal/groups/{GROUP}/files/"
SHARES = f"/portal/groups/{GROUP}/shares"


@pytest.fixture(scope="module", autouse=True)
def no_cluster():
    """KubeSpawner loads a cluster's config when made; there is none here, and nothing is launched."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubespawner.spawner, "load_config", lambda **kwargs: None)
        patch.setattr(kubespawner.spawner, "shared_client", lambda name: mock.AsyncMock(name=name))
        yield


@contextmanager
def data_claim(name: str):
    """The hub's ``KubeStorage.data_claim`` for a while (read on every request)."""
    config = Hubfront.instance().config
    config.KubeStorage.data_claim = name
    try:
        yield
    finally:
        config.KubeStorage.data_claim = ""


@pytest.fixture
async def ann(app):
    await make_user(app, "gsr-ann", groups=[GROUP])
    return await login(app, "gsr-ann")


def upload_headers() -> dict:
    return {"Tus-Resumable": "1.0.0", "Upload-Length": "3",
            "Upload-Metadata": "path " + base64.b64encode(b"a.txt").decode()}


def menu_link(app) -> str:
    return f'href="{app.hub.base_url}portal/files"'


async def test_without_the_data_claim_shared_files_are_absent_and_say_why(app, ann):
    home = await ann.get("hub/home")
    assert home.status_code == 200 and 'id="hf-sidemenu"' in home.text
    assert menu_link(app) not in home.text and "Shared Files" not in home.text
    assert 'id="hf-shortcut-upload"' not in home.text  # the Start menu's "Upload files"
    for method, path, kw in [("GET", FILES, {}), ("GET", FILES + "notes.txt", {}),
                             ("PUT", FILES + "notes.txt", {"data": b"hi"}),
                             ("POST", FILES + "new?op=mkdir", {}),
                             ("POST", f"/portal/groups/{GROUP}/uploads", {"headers": upload_headers()}),
                             ("GET", SHARES, {}), ("POST", SHARES, {"json": {"path": "notes.txt"}})]:
        r = await ann.api(method, path, **kw)
        assert (r.status_code, r.json()["message"]) == (404, UNREACHABLE), (method, path, r.text)
    page = await ann.get("hub/portal/files")
    assert page.status_code == 404 and UNREACHABLE in page.text
    usage = (await ann.api("GET", f"/portal/groups/{GROUP}/usage")).json()
    assert "storage" not in usage  # the hub's tree is not what the group's workloads use


async def test_with_the_data_claim_the_hub_serves_the_tree_the_pods_mount(app, ann):
    with data_claim("hubfront-data"):
        home = await ann.get("hub/home")
        assert menu_link(app) in home.text and 'id="hf-shortcut-upload"' in home.text
        assert (await ann.get("hub/portal/files")).status_code == 200
        r = await ann.api("PUT", FILES + "notes.txt", data=b"seen by the pods\n")
        assert r.status_code == 201, r.text
        r = await ann.api("GET", FILES)
        assert r.status_code == 200 and [e["name"] for e in r.json()["entries"]] == ["notes.txt"]
        r = await ann.api("POST", f"/portal/groups/{GROUP}/uploads", headers=upload_headers())
        assert r.status_code == 201, r.text
        share = await ann.api("POST", SHARES, json={"path": "notes.txt"})
        assert share.status_code == 201, share.text
        url = urljoin(public_url(app), share.json()["url"])
        r = await async_requests.get(url + "?download=1")
        assert r.status_code == 200 and r.content == b"seen by the pods\n"
        assert "storage" in (await ann.api("GET", f"/portal/groups/{GROUP}/usage")).json()
    # the claim taken away again: links made before answer 404 with the reason, not the file
    r = await async_requests.get(url + "?download=1")
    assert r.status_code == 404 and UNREACHABLE in r.text and b"seen by the pods" not in r.content
