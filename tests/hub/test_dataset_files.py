"""A dataset's page lists its files and renders its description (issue 24), on a MockHub: the files
API under the dataset (what workloads see at ~/datasets/<name>), read by every group that may use
it and changed only by one that may write it; the description's Markdown rendered, and nothing a
hostile description holds reaches the page as markup that runs."""

from __future__ import annotations

import io
import json
import re
import zipfile

from conftest_helpers import login, make_user

from hub_ext.datasets.records import dataset_dir
from hub_ext.settings import Hubfront
from support import html_elements

LAB, GUEST, STRANGER = "hfdf-lab", "hfdf-guest", "hfdf-none"
HOSTILE = ("**iris** measurements, see [the paper](https://example.org/iris)\n\n"
           "<script>alert('x')</script> <img src=x onerror=alert(1)> "
           "[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=)\n\n"
           "<a href=\"javascript:alert(2)\" onclick=\"alert(3)\">raw link</a>")


async def sessions(app):
    await make_user(app, "hfdf-own", groups=[LAB])
    await make_user(app, "hfdf-gus", groups=[GUEST])
    await make_user(app, "hfdf-eve", groups=[STRANGER])
    return await login(app, "hfdf-own"), await login(app, "hfdf-gus"), await login(app, "hfdf-eve")


def files(group: str, name: str, path: str = "") -> str:
    return f"/portal/groups/{group}/datasets/{name}/files/{path}"


async def test_every_group_that_may_use_a_dataset_reads_its_files_and_only_a_writer_changes_them(app):
    own, gus, eve = await sessions(app)
    r = await own.api("POST", f"/portal/groups/{LAB}/datasets",
                      data=json.dumps({"name": "hfdf-iris", "kind": "files", "description": "Iris"}))
    assert r.status_code == 201, r.text
    current = dataset_dir(Hubfront.instance().data_dir, "hfdf-iris") / "current"
    (current / "raw").mkdir()
    (current / "iris.csv").write_text("sepal,petal\n5.1,1.4\n")
    (current / "raw" / "notes.txt").write_text("collected in 1936\n")
    r = await own.api("PUT", f"/portal/groups/{LAB}/datasets/hfdf-iris/grants/{GUEST}", data=json.dumps({"mode": "ro"}))
    assert r.status_code == 200, r.text

    for session, group, writable in ((own, LAB, True), (gus, GUEST, False)):
        r = await session.api("GET", files(group, "hfdf-iris"))
        assert r.status_code == 200, r.text
        listing = r.json()
        assert [(e["name"], e["type"]) for e in listing["entries"]] == [("raw", "folder"), ("iris.csv", "file")]
        assert listing["storage"]["writable"] is writable
        r = await session.api("GET", files(group, "hfdf-iris", "raw/notes.txt"))
        assert r.status_code == 200 and r.content == b"collected in 1936\n"
        preview = (await session.api("GET", files(group, "hfdf-iris", "iris.csv") + "?preview=1")).json()
        assert preview["kind"] == "csv" and preview["header"] == ["sepal", "petal"]
        r = await session.api("GET", files(group, "hfdf-iris") + "?download=zip")
        assert 'filename="hfdf-iris.zip"' in r.headers["Content-Disposition"]  # named after the dataset
        assert {"iris.csv", "raw/notes.txt"} <= set(zipfile.ZipFile(io.BytesIO(r.content)).namelist())

    # the read-only grantee: nothing changes, each refusal says why
    r = await gus.api("POST", files(GUEST, "hfdf-iris", "new") + "?op=mkdir")
    assert r.status_code == 403 and r.json()["message"] == f"Path: group {GUEST} may only read dataset hfdf-iris"
    assert (await gus.api("DELETE", files(GUEST, "hfdf-iris", "iris.csv"))).status_code == 403
    r = await gus.api("POST", files(GUEST, "hfdf-iris", "iris.csv") + "?op=move", data=json.dumps({"to": "x.csv"}))
    assert r.status_code == 403
    assert sorted(p.name for p in current.iterdir()) == ["iris.csv", "raw"]
    # a group it was not granted to, as if it did not exist
    assert (await eve.api("GET", files(STRANGER, "hfdf-iris"))).status_code == 404
    assert (await eve.api("GET", files(LAB, "hfdf-iris"))).status_code == 404

    # the owner group changes them through the same browser, and the paths' rules hold
    assert (await own.api("POST", files(LAB, "hfdf-iris", "clean") + "?op=mkdir")).status_code == 201
    r = await own.api("POST", files(LAB, "hfdf-iris", "iris.csv") + "?op=move", data=json.dumps({"to": "clean/iris.csv"}))
    assert r.status_code == 200 and (current / "clean" / "iris.csv").is_file()
    r = await own.api("POST", files(LAB, "hfdf-iris", "raw") + "?op=move", data=json.dumps({"to": "../escape"}))
    assert r.status_code == 400 and r.json()["message"] == "Name: '..' is not allowed in a file name"
    assert (await own.api("DELETE", files(LAB, "hfdf-iris", "raw"))).status_code == 204
    assert sorted(p.name for p in current.iterdir()) == ["clean"]
    assert (await own.api("PUT", files(LAB, "hfdf-iris", "more.csv"), data=b"x")).status_code == 405

    # an env dataset has no files; a git one has none until it is synced, and says so
    r = await own.api("POST", f"/portal/groups/{LAB}/datasets",
                      data=json.dumps({"name": "hfdf-keys", "kind": "env", "env": [{"key": "A", "value": "1"}]}))
    assert r.status_code == 201, r.text
    assert (await own.api("GET", files(LAB, "hfdf-keys"))).status_code == 404
    for name in ("hfdf-iris", "hfdf-keys"):
        assert (await own.api("DELETE", f"/portal/groups/{LAB}/datasets/{name}")).status_code == 204


async def test_the_page_shows_the_files_browser_and_the_description_rendered_safely(app):
    own, gus, _ = await sessions(app)
    r = await own.api("POST", f"/portal/groups/{LAB}/datasets",
                      data=json.dumps({"name": "hfdf-page", "kind": "files", "description": HOSTILE}))
    assert r.status_code == 201, r.text
    assert (await own.api("PUT", f"/portal/groups/{LAB}/datasets/hfdf-page/grants/{GUEST}",
                          data=json.dumps({"mode": "ro"}))).status_code == 200

    page = (await own.get("hub/portal/datasets/hfdf-page")).text
    described = re.search(r'id="hf-ds-description">(.*?)</dd>', page, re.S).group(1)
    assert "<strong>iris</strong>" in described and "**iris**" not in described
    assert 'href="https://example.org/iris"' in described and "noopener" in described
    elements = html_elements(described)  # what a browser makes of it: the hostile parts are text, not markup
    assert {tag for tag, _ in elements} == {"p", "strong", "a"}, elements
    for tag, attrs in elements:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert attrs.get("href", "https:").startswith("https:"), (tag, attrs)
    assert "&lt;script&gt;" in described  # shown as what was written
    browser = re.search(r'<div class="card-body pb-0" id="hf-files-page"[^>]*>', page).group(0)
    assert f'/hub/api/portal/groups/{LAB}/datasets/hfdf-page/files/"' in browser
    assert 'data-writable="1"' in browser and 'id="hf-new-folder"' in page and "portal/static/files.js" in page

    # the read-only grantee's page: the same browser, nothing offered that would be refused
    await gus.api("PUT", "/portal/me/context", data=json.dumps({"group": GUEST}))
    page = (await gus.get("hub/portal/datasets/hfdf-page/files/raw")).text
    browser = re.search(r'<div class="card-body pb-0" id="hf-files-page"[^>]*>', page).group(0)
    assert 'data-writable="0"' in browser and 'data-folder="raw"' in browser and 'id="hf-new-folder"' not in page
    assert f"{GUEST} may only read them" in page
    assert (await gus.get("hub/portal/datasets/hfdf-page/files/..%2F..")).status_code == 400

    # the list's one line: the description's words, without the markup
    listing = (await own.get("hub/portal/datasets")).text
    summary = re.search(r'class="small text-muted text-truncate hf-ds-summary"[^>]*>(.*?)</div>', listing, re.S).group(1)
    assert summary.startswith("iris measurements, see the paper") and "<" not in summary.replace("&lt;", "")
    assert (await own.api("DELETE", f"/portal/groups/{LAB}/datasets/hfdf-page")).status_code == 204
