"""Group storage through the files API and resumable (tus) uploads, on a MockHub with its real proxy.

As root the hub's isolation is on: members' OS accounts and the group's Unix
group are real, and files made through the API must end up theirs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import socket
import stat
import zipfile
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests
from conftest_helpers import login, make_user
from jupyterhub.tests.utils import public_url

from hub_ext.isolation import Isolation
from hub_ext.portal.files.tus import _active
from hub_ext.settings import Hubfront
from hub_ext.storage import usage
from hub_ext.storage.tree import group_root

MiB = 2**20
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="OS accounts and Unix groups need root")


def data_dir() -> Path:
    return Path(Hubfront.instance().data_dir)


def files(group: str, path: str = "") -> str:
    return f"/portal/groups/{group}/files/{quote(path)}"


async def token_of(app, name: str) -> str:
    return app.users[name].new_api_token(note="files tests")


def meta(**pairs) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


@pytest.fixture
async def members(app):
    """Members of fa-lab, one of another group, one of a group with 10 MiB of storage (JupyterHub's
    test fixtures remove users after each test, so they are made for each)."""
    await make_user(app, "fa-ann", groups=["fa-lab"])
    await make_user(app, "fa-bob", groups=["fa-lab"])
    await make_user(app, "fa-eve", groups=["fa-other"])
    await make_user(app, "fa-quinn", groups=["fa-small"], policies={"fa-small": {"quota": {"storage": "10Mi"}}})
    return {name: await login(app, name) for name in ("fa-ann", "fa-bob", "fa-eve", "fa-quinn")}


async def test_members_make_list_move_download_preview_and_delete(app, members):
    ann = members["fa-ann"]
    r = await ann.api("post", files("fa-lab", "data/raw") + "?op=mkdir")
    assert r.status_code == 201, r.text
    r = await ann.api("put", files("fa-lab", "data/raw/table.csv"), data=b"a,b\n1,2\n3,4\n")
    assert r.status_code == 201, r.text
    assert r.json()["size"] == 12
    await ann.api("put", files("fa-lab", "notes.txt"), data="héllo\n".encode())
    r = await ann.api("get", files("fa-lab"))
    assert r.status_code == 200
    listing = r.json()
    assert listing["path"] == ""
    assert [(e["name"], e["type"]) for e in listing["entries"]] == [("data", "folder"), ("notes.txt", "file")]
    # the other member sees the same tree
    r = await members["fa-bob"].api("get", files("fa-lab", "data/raw"))
    assert [e["name"] for e in r.json()["entries"]] == ["table.csv"]
    # download: the bytes, as an attachment
    r = await ann.api("get", files("fa-lab", "notes.txt"))
    assert r.content == "héllo\n".encode()
    assert r.headers["Content-Disposition"].startswith("attachment;")
    # previews
    r = await ann.api("get", files("fa-lab", "data/raw/table.csv") + "?preview=1")
    assert r.json()["kind"] == "csv" and r.json()["header"] == ["a", "b"] and r.json()["rows"] == [["1", "2"], ["3", "4"]]
    r = await ann.api("get", files("fa-lab", "notes.txt") + "?preview=1")
    assert (r.json()["kind"], r.json()["text"]) == ("text", "héllo\n")
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    await ann.api("put", files("fa-lab", "dot.png"), data=png)
    r = await ann.api("get", files("fa-lab", "dot.png") + "?preview=1")
    assert r.json()["kind"] == "image" and base64.b64decode(r.json()["data"].split(",", 1)[1]) == png
    # a folder as a zip
    r = await ann.api("get", files("fa-lab", "data") + "?download=zip")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert z.read("raw/table.csv") == b"a,b\n1,2\n3,4\n"
    # move (rename), then delete
    r = await ann.api("post", files("fa-lab", "notes.txt") + "?op=move", json={"to": "data/notes.md"})
    assert r.status_code == 200 and r.json()["path"] == "data/notes.md"
    r = await ann.api("post", files("fa-lab", "data/notes.md") + "?op=move", json={"to": "data/raw/table.csv"})
    assert r.status_code == 409
    r = await ann.api("post", files("fa-lab", "data") + "?op=move", json={"to": "data/raw/inside"})
    assert r.status_code == 400 and "to" in r.json()["errors"]
    r = await ann.api("delete", files("fa-lab", "data"))
    assert r.status_code == 204
    assert not (group_root(data_dir(), "fa-lab") / "data").exists()
    r = await ann.api("get", files("fa-lab", "data"))
    assert r.status_code == 404
    # every change is an activity
    from hub_ext.activity import recent

    actions = {a.action for a in recent(Hubfront.instance().db_url, group="fa-lab", limit=50) if a.kind == "files"}
    assert {"mkdir", "upload", "move", "delete"} <= actions


async def test_bad_input_is_400_naming_the_field(app, members):
    ann = members["fa-ann"]
    r = await ann.api("post", files("fa-lab", "x") + "?op=rename")
    assert r.status_code == 400 and "op" in r.json()["errors"]
    r = await ann.api("post", files("fa-lab", "x") + "?op=move", json={"to": "y", "force": True})
    assert r.status_code == 400 and r.json()["errors"]["force"] == "unknown field"
    r = await ann.api("delete", files("fa-lab"))
    assert r.status_code in (404, 405)  # the root is not deletable (no such route)


async def test_state_changes_from_the_page_need_the_xsrf_token(app, members):
    """A page's requests carry X-XSRFToken (tus-js-client too); without it, no change happens."""
    ann = members["fa-ann"]
    r = await ann.api("put", files("fa-lab", "xsrf.txt"), data=b"x", xsrf=False)
    assert r.status_code == 403 and not (group_root(data_dir(), "fa-lab") / "xsrf.txt").exists()
    create = {"Tus-Resumable": "1.0.0", "Upload-Length": "2", "Upload-Metadata": meta(path="xsrf.bin")}
    r = await ann.api("post", "/portal/groups/fa-lab/uploads", headers=dict(create), xsrf=False)
    assert r.status_code == 403
    r = await ann.api("post", "/portal/groups/fa-lab/uploads", headers=dict(create))
    assert r.status_code == 201, r.text
    upload = r.headers["Location"].split("/hub/api", 1)[1]
    patch = {"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    r = await ann.api("patch", upload, headers=dict(patch), data=b"ok", xsrf=False)
    assert r.status_code == 403
    r = await ann.api("patch", upload, headers=dict(patch), data=b"ok")
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "2"
    assert (group_root(data_dir(), "fa-lab") / "xsrf.bin").read_bytes() == b"ok"


@pytest.mark.parametrize("path", ["../etc/passwd", "a/../../x", "/etc/passwd", "a\x00b", "out/secret", "out"])
async def test_paths_are_confined_to_the_groups_tree(app, members, path, tmp_path):
    ann = members["fa-ann"]
    root = group_root(data_dir(), "fa-lab")
    await ann.api("get", files("fa-lab"))  # the tree exists
    outside = data_dir() / "outside-the-tree"
    outside.mkdir(exist_ok=True)
    (outside / "secret").write_text("s")
    if not (root / "out").is_symlink():
        (root / "out").symlink_to(outside)
    url = f"/portal/groups/fa-lab/files/{quote(path, safe='/')}"
    for method, kw in (("get", {}), ("put", {"data": b"x"}), ("delete", {}), ("post", {"params": {"op": "mkdir"}})):
        if path == "out" and method == "delete":
            continue  # deleting the link itself is fine (below)
        r = await ann.api(method, url, **kw)
        if path.startswith("/") or ".." in path:
            # the proxy or tornado may normalise these away; whatever answers, nothing escapes
            assert r.status_code in (400, 404), (method, path, r.status_code)
        else:
            assert r.status_code == 400, (method, path, r.status_code, r.text)
            assert "path" in r.json()["errors"]
    assert (outside / "secret").read_text() == "s" and sorted(os.listdir(outside)) == ["secret"]
    # a link is deleted as a link: what it points at is untouched
    r = await ann.api("delete", files("fa-lab", "out"))
    assert r.status_code == 204 and not (root / "out").is_symlink()
    assert (outside / "secret").read_text() == "s"
    (root / "out").symlink_to(outside)
    # in a move's target too
    await ann.api("put", files("fa-lab", "movable.txt"), data=b"m")
    r = await ann.api("post", files("fa-lab", "movable.txt") + "?op=move", json={"to": "out/stolen"})
    assert r.status_code == 400 and "to" in r.json()["errors"]
    r = await ann.api("post", files("fa-lab", "movable.txt") + "?op=move", json={"to": "../x"})
    assert r.status_code == 400 and "to" in r.json()["errors"]


async def test_encoded_escapes_are_400_naming_path(app, members):
    """Escapes the client cannot normalise away (%2F-encoded, NUL) reach the handler: 400 ``path``."""
    ann = members["fa-ann"]
    for raw in ("..%2F..%2Fetc%2Fpasswd", "a%00b", "%2Fetc%2Fpasswd", "a%2F%2Fb"):
        r = await ann.api("get", f"/portal/groups/fa-lab/files/{raw}")
        assert r.status_code == 400, (raw, r.status_code, r.text)
        assert "path" in r.json()["errors"]


async def test_other_groups_members_get_404(app, members):
    eve = members["fa-eve"]
    await members["fa-ann"].api("put", files("fa-lab", "private.txt"), data=b"p")
    for method, kw in (("get", {}), ("put", {"data": b"x"}), ("delete", {})):
        r = await eve.api(method, files("fa-lab", "private.txt"), **kw)
        assert r.status_code == 404, (method, r.status_code)
    r = await eve.api("get", files("fa-lab"))
    assert r.status_code == 404
    r = await eve.api("post", "/portal/groups/fa-lab/uploads",
                      headers={"Tus-Resumable": "1.0.0", "Upload-Length": "1", "Upload-Metadata": meta(path="x")})
    assert r.status_code == 404
    assert (group_root(data_dir(), "fa-lab") / "private.txt").read_bytes() == b"p"


@ROOT_ONLY
async def test_files_made_through_the_api_are_the_members_and_the_groups(app, members):
    ann = members["fa-ann"]
    await ann.api("post", files("fa-lab", "owned/deeper") + "?op=mkdir")
    await ann.api("put", files("fa-lab", "owned/deeper/f.txt"), data=b"f")
    token = await token_of(app, "fa-ann")
    url = public_url(app) + "hub/api/portal/groups/fa-lab/uploads"
    r = await asyncio.to_thread(requests.post, url, headers={
        "Authorization": f"token {token}", "Tus-Resumable": "1.0.0", "Upload-Length": "3",
        "Upload-Metadata": meta(path="owned/new/up.bin")})
    assert r.status_code == 201, r.text
    r = await asyncio.to_thread(requests.patch, absolute(app, r.headers["Location"]), data=b"abc", headers={"Authorization": f"token {token}", "Tus-Resumable": "1.0.0",
                                                      "Upload-Offset": "0",
                                                      "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 204, r.text
    isolation = Isolation.instance()
    uid, gid = isolation.uid_of("fa-ann"), isolation.unix_gid("fa-lab")
    assert uid is not None and gid is not None
    root = group_root(data_dir(), "fa-lab")
    for rel, folder in (("owned", True), ("owned/deeper", True), ("owned/deeper/f.txt", False),
                        ("owned/new", True), ("owned/new/up.bin", False)):
        st = (root / rel).stat()
        assert (st.st_uid, st.st_gid) == (uid, gid), rel
        assert st.st_mode & 0o060 == 0o060 and not st.st_mode & 0o007, (rel, oct(st.st_mode))
        if folder:
            assert st.st_mode & stat.S_ISGID, rel
    assert (root / "owned/new/up.bin").read_bytes() == b"abc"


# -- tus ---------------------------------------------------------------------------------------


def tus_headers(token: str, **more) -> dict:
    return {"Authorization": f"token {token}", "Tus-Resumable": "1.0.0", **more}


def absolute(app, location: str) -> str:
    base = urlsplit(public_url(app))
    return f"{base.scheme}://{base.netloc}{location}"


async def test_tus_capabilities_and_bad_headers(app, members):
    token = await token_of(app, "fa-ann")
    url = public_url(app) + "hub/api/portal/groups/fa-lab/uploads"
    r = await asyncio.to_thread(requests.options, url)
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0" and "creation" in r.headers["Tus-Extension"]
    assert int(r.headers["Tus-Max-Size"]) > 0
    cases = [
        ({"Upload-Length": "x", "Upload-Metadata": meta(path="a")}, 400, "Upload-Length"),
        ({"Upload-Length": "-1", "Upload-Metadata": meta(path="a")}, 400, "Upload-Length"),
        ({"Upload-Metadata": meta(path="a")}, 400, "Upload-Length"),
        ({"Upload-Length": "1", "Upload-Metadata": "path !!!"}, 400, "Upload-Metadata"),
        ({"Upload-Length": "1", "Upload-Metadata": meta(area="")}, 400, "path"),
        ({"Upload-Length": "1", "Upload-Metadata": meta(path="../x")}, 400, "path"),
        ({"Upload-Length": "1", "Upload-Metadata": meta(path="a", area="nowhere:x")}, 400, "area"),
        ({"Upload-Length": "99999999999999999999", "Upload-Metadata": meta(path="a")}, 400, "Upload-Length"),
    ]
    for headers, status, field in cases:
        r = await asyncio.to_thread(requests.post, url, headers=tus_headers(token, **headers))
        assert r.status_code == status, (headers, r.status_code, r.text)
        assert field in r.json()["errors"], (headers, r.text)
    r = await asyncio.to_thread(requests.post, url, headers={"Authorization": f"token {token}", "Upload-Length": "1"})
    assert r.status_code == 400 and "Tus-Resumable" in r.json()["errors"]
    r = await asyncio.to_thread(requests.post, url, headers=tus_headers(token, **{
        "Tus-Resumable": "2.0.0", "Upload-Length": "1", "Upload-Metadata": meta(path="a")}))
    assert r.status_code == 412 and r.headers["Tus-Version"] == "1.0.0"
    # HEAD / PATCH / DELETE of an upload that is not there, or not the caller's
    r = await asyncio.to_thread(requests.post, url, headers=tus_headers(token, **{
        "Upload-Length": "4", "Upload-Metadata": meta(path="tus/four.bin")}))
    upload = absolute(app, r.headers["Location"])
    bob = await token_of(app, "fa-bob")
    r = await asyncio.to_thread(requests.head, upload, headers=tus_headers(bob))
    assert r.status_code == 404
    r = await asyncio.to_thread(requests.patch, upload, data=b"ab", headers=tus_headers(token, **{
        "Upload-Offset": "1", "Content-Type": "application/offset+octet-stream"}))
    assert r.status_code == 409
    r = await asyncio.to_thread(requests.patch, upload, data=b"ab", headers=tus_headers(token, **{
        "Upload-Offset": "0", "Content-Type": "text/plain"}))
    assert r.status_code == 415
    r = await asyncio.to_thread(requests.patch, upload, data=b"abcdef", headers=tus_headers(token, **{
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}))
    assert r.status_code == 400
    r = await asyncio.to_thread(requests.head, upload, headers=tus_headers(token))
    assert (r.status_code, r.headers["Upload-Offset"], r.headers["Upload-Length"]) == (200, "0", "4")
    r = await asyncio.to_thread(requests.delete, upload, headers=tus_headers(token))
    assert r.status_code == 204
    r = await asyncio.to_thread(requests.head, upload, headers=tus_headers(token))
    assert r.status_code == 404
    r = await asyncio.to_thread(requests.head, absolute(app, "/hub/api/portal/groups/fa-lab/uploads/not-an-id"),
                                headers=tus_headers(token))
    assert r.status_code == 404


def _half_then_drop(app, upload: str, token: str, data: bytes) -> None:
    """A raw PATCH that announces the whole rest, sends half of it, and closes the connection."""
    parts = urlsplit(upload)
    head = (f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: token {token}\r\n"
            f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode()
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(head)
        sock.sendall(data[: len(data) // 2])


async def _settled_offset(app, upload: str, token: str) -> int:
    """The offset once the server has noticed the dropped connection (no writer left)."""
    last = None
    for _ in range(100):
        r = await asyncio.to_thread(requests.head, upload, headers=tus_headers(token))
        offset = int(r.headers["Upload-Offset"])
        if offset == last and upload.rsplit("/", 1)[-1] not in _active:
            return offset
        last = offset
        await asyncio.sleep(0.2)
    raise AssertionError("the dropped PATCH never settled")


async def test_interrupted_upload_resumes_and_the_file_is_intact(app, members):
    from tusclient import client as tus_client

    token = await token_of(app, "fa-ann")
    data = os.urandom(64 * MiB)
    url = public_url(app) + "hub/api/portal/groups/fa-lab/uploads"
    r = await asyncio.to_thread(requests.post, url, headers=tus_headers(token, **{
        "Upload-Length": str(len(data)), "Upload-Metadata": meta(path="big/blob.bin")}))
    assert r.status_code == 201, r.text
    upload = absolute(app, r.headers["Location"])
    await asyncio.to_thread(_half_then_drop, app, upload, token, data)
    offset = await _settled_offset(app, upload, token)
    assert 0 < offset <= len(data) // 2
    assert not (group_root(data_dir(), "fa-lab") / "big" / "blob.bin").exists()  # not in place before the end

    def resume():
        tus = tus_client.TusClient(url, headers={"Authorization": f"token {token}"})
        uploader = tus.uploader(file_stream=io.BytesIO(data), url=upload, chunk_size=8 * MiB)
        assert uploader.offset == offset  # tuspy asked the server (HEAD) where to go on
        uploader.upload()

    await asyncio.to_thread(resume)
    stored = group_root(data_dir(), "fa-lab") / "big" / "blob.bin"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert not list((data_dir() / "uploads").glob("*.part"))
    from hub_ext.ledger import Ledger

    assert Ledger(Hubfront.instance().db_url).storage_held("fa-lab") == 0


async def test_a_whole_upload_with_tuspy(app, members):
    from tusclient import client as tus_client

    token = await token_of(app, "fa-bob")
    data = os.urandom(3 * MiB + 17)
    url = public_url(app) + "hub/api/portal/groups/fa-lab/uploads"

    def upload():
        tus = tus_client.TusClient(url, headers={"Authorization": f"token {token}"})
        tus.uploader(file_stream=io.BytesIO(data), chunk_size=MiB,
                     metadata={"path": "from-tuspy/data.bin", "filename": "data.bin"}).upload()

    await asyncio.to_thread(upload)
    assert (group_root(data_dir(), "fa-lab") / "from-tuspy" / "data.bin").read_bytes() == data


async def test_storage_quota_refuses_an_upload_before_any_byte(app, members):
    quinn = members["fa-quinn"]
    token = await token_of(app, "fa-quinn")
    await quinn.api("get", files("fa-small"))
    uploads = data_dir() / "uploads"
    before = set(uploads.glob("*.part")) if uploads.exists() else set()
    url = public_url(app) + "hub/api/portal/groups/fa-small/uploads"
    r = await asyncio.to_thread(requests.post, url, headers=tus_headers(token, **{
        "Upload-Length": str(11 * MiB), "Upload-Metadata": meta(path="too/big.bin")}))
    message = "Storage: used 0 B + upload 11 MiB > limit 10 MiB (group fa-small)"
    assert r.status_code == 413, r.text
    assert r.json()["message"].endswith(message) and r.headers["Hubfront-Error"] == message
    assert "Location" not in r.headers
    assert (set(uploads.glob("*.part")) if uploads.exists() else set()) == before
    assert not (group_root(data_dir(), "fa-small") / "too").exists()
    # the simple PUT checks the quota too
    r = await quinn.api("put", files("fa-small", "big.bin"), data=b"\0" * (11 * MiB))
    assert r.status_code == 413 and r.headers["Hubfront-Error"] == message
    assert not (group_root(data_dir(), "fa-small") / "big.bin").exists()
    # what fits is stored, and the dashboard shows used / limit
    r = await quinn.api("put", files("fa-small", "six.bin"), data=b"\0" * (6 * MiB))
    assert r.status_code == 201
    r = await asyncio.to_thread(requests.post, url, headers=tus_headers(token, **{
        "Upload-Length": str(5 * MiB), "Upload-Metadata": meta(path="five.bin")}))
    assert r.status_code == 413
    assert r.headers["Hubfront-Error"] == "Storage: used 6 MiB + upload 5 MiB > limit 10 MiB (group fa-small)"
    usage.invalidate("fa-small")
    r = await quinn.api("get", "/portal/groups/fa-small/usage")
    storage = r.json()["storage"]
    assert (storage["used_text"], storage["limit_text"], storage["percent"]) == ("6 MiB", "10 MiB", 60)
    home = await quinn.get("hub/home")
    assert 'id="hf-storage"' in home.text and "6 MiB / 10 MiB" in home.text
