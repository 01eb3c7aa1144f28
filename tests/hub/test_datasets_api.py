"""The datasets REST API on a MockHub (real proxy, real Unix groups and ACLs when run as root):
create/read/change/delete with field errors, who may see (404) and do (403) what, grants,
versions, env values kept encrypted, syncs asked for, activities."""

from __future__ import annotations

import json
import re
import os
import socket
import stat

from sqlalchemy import select

from conftest_helpers import login, make_user
from hub_ext.datasets.records import dataset_dir
from hub_ext.settings import Hubfront
from hub_ext.store.engine import read_scope
from hub_ext.store.models_portal import Activity
from hub_ext.store.models_storage import Dataset

LAB, GUEST = "hfcd-lab", "hfcd-guest"
API = f"/portal/groups/{LAB}/datasets"


async def users(app):
    await make_user(app, "hfcd-owner", groups=[LAB], policies={LAB: {"admins": ["hfcd-boss"]}})
    await make_user(app, "hfcd-member", groups=[LAB])
    await make_user(app, "hfcd-boss", groups=[LAB])
    await make_user(app, "hfcd-guest", groups=[GUEST])
    return (await login(app, "hfcd-owner"), await login(app, "hfcd-member"), await login(app, "hfcd-boss"),
            await login(app, "hfcd-guest"))


async def text(session, path) -> str:
    r = await session.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return r.content.decode()


def post(session, path, body):
    return session.api("POST", path, data=json.dumps(body))


async def test_create_validate_change_delete(app):
    owner, member, boss, guest = await users(app)
    r = await post(owner, API, {"name": "hfcd-images", "kind": "files", "description": "Cats and dogs",
                                "tags": ["vision", "small"]})
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["group"], made["kind"], made["mode"], made["tags"], made["size"], made["files"]) == \
        (LAB, "files", "rw", ["vision", "small"], 0, 0)
    current = dataset_dir(Hubfront.instance().data_dir, "hfcd-images") / "current"
    assert current.is_dir()
    if os.geteuid() == 0:  # the owner group's folder, like group storage
        assert stat.S_IMODE(current.stat().st_mode) == 0o2770 and current.stat().st_uid == 0
    (current / "one.bin").write_bytes(b"x" * 1000)
    one = (await member.api("GET", f"{API}/hfcd-images")).json()  # measured on disk
    assert (one["size"], one["files"], one["versions"]) == (1000, 1, [])
    listing = (await member.api("GET", API)).json()["datasets"]
    assert [(d["name"], d["size"], d["files"]) for d in listing] == [("hfcd-images", 1000, 1)]

    # field errors name the field; unknown fields too; the name is unique
    for body, field in [({"name": "Bad_Name", "kind": "files"}, "name"),
                        ({"name": "hfcd-x", "kind": "tape"}, "kind"),
                        ({"name": "hfcd-x", "kind": "files", "colour": "red"}, "colour"),
                        ({"name": "hfcd-x", "kind": "git"}, "git_url"),
                        ({"name": "hfcd-x", "kind": "files", "git_url": "https://example.org/r.git"}, "git_url"),
                        ({"name": "hfcd-x", "kind": "git", "git_url": "ext::sh -c id"}, "git_url"),
                        ({"name": "hfcd-x", "kind": "git", "git_url": "https://u:tok@example.org/r.git"}, "git_url"),
                        ({"name": "hfcd-x", "kind": "git", "git_url": "https://example.org/r.git",
                          "git_branch": "--upload-pack=x"}, "git_branch"),
                        ({"name": "hfcd-x", "kind": "git", "git_url": "https://example.org/r.git",
                          "sync_interval": 5}, "sync_interval"),
                        ({"name": "hfcd-x", "kind": "env", "env": [{"key": "1A", "value": "v"}]}, "env.0.key"),
                        ({"name": "hfcd-x", "kind": "env", "env": [{"key": "A"}]}, "env"),
                        ({"name": "hfcd-x", "kind": "files", "tags": "vision"}, "tags")]:
        r = await post(owner, API, body)
        assert r.status_code == 400 and field in r.json()["errors"], (body, r.text)
    r = await post(member, API, {"name": "hfcd-images", "kind": "files"})
    assert r.status_code == 409 and "name" in r.json()["errors"]
    r = await owner.api("POST", API, data=json.dumps({"name": "hfcd-y", "kind": "files"}), xsrf=False)
    assert r.status_code == 403  # no XSRF token, no change

    r = await member.api("PATCH", f"{API}/hfcd-images", data=json.dumps({"description": "Only cats", "tags": []}))
    assert r.status_code == 200 and (r.json()["description"], r.json()["tags"]) == ("Only cats", [])
    r = await member.api("PATCH", f"{API}/hfcd-images", data=json.dumps({"env": []}))
    assert r.status_code == 400 and "env" in r.json()["errors"]
    r = await member.api("PATCH", f"{API}/hfcd-images", data=json.dumps({"kind": "git"}))
    assert r.status_code == 400 and r.json()["errors"] == {"kind": "unknown field"}

    # deleting: not any member; the group's admins (or the creator)
    r = await member.api("DELETE", f"{API}/hfcd-images")
    assert r.status_code == 403
    r = await boss.api("DELETE", f"{API}/hfcd-images")
    assert r.status_code == 204 and not current.exists()
    assert (await owner.api("GET", f"{API}/hfcd-images")).status_code == 404
    with read_scope(Hubfront.instance().db_url) as s:
        actions = [a.action for a in s.scalars(select(Activity).where(Activity.workload_id == "hfcd-images",
                                                                      Activity.kind == "dataset"))]
    assert actions == ["created", "updated", "deleted"]


async def test_other_groups_see_nothing_until_granted(app):
    owner, member, boss, guest = await users(app)
    assert (await post(owner, API, {"name": "hfcd-shared", "kind": "files"})).status_code == 201
    # another group's member: the dataset does not exist for them, wherever they ask
    assert (await guest.api("GET", f"/portal/groups/{GUEST}/datasets/hfcd-shared")).status_code == 404
    assert (await guest.api("GET", f"{API}/hfcd-shared")).status_code == 404  # not their group
    assert (await guest.api("GET", API)).status_code == 404
    assert (await guest.api("GET", f"/portal/groups/{GUEST}/datasets")).json()["datasets"] == []

    grant = f"{API}/hfcd-shared/grants/{GUEST}"
    r = await owner.api("PUT", grant, data=json.dumps({"mode": "ro"}))
    assert r.status_code == 200 and r.json()["mode"] == "ro", r.text
    seen = (await guest.api("GET", f"/portal/groups/{GUEST}/datasets")).json()["datasets"]
    assert [(d["name"], d["mode"], d["may_manage"]) for d in seen] == [("hfcd-shared", "ro", False)]
    mine = (await owner.api("GET", f"{API}/hfcd-shared")).json()
    assert mine["grants"][0]["group"] == GUEST and mine["grants"][0]["mode"] == "ro"
    # a granted group uses it; it does not manage it
    theirs = f"/portal/groups/{GUEST}/datasets/hfcd-shared"
    assert (await guest.api("PATCH", theirs, data=json.dumps({"description": "mine"}))).status_code == 403
    assert (await guest.api("PUT", f"{theirs}/grants/{GUEST}", data=json.dumps({"mode": "rw"}))).status_code == 403
    assert (await guest.api("POST", f"{theirs}/versions", data="{}")).status_code == 403
    assert (await guest.api("DELETE", theirs)).status_code == 403

    r = await owner.api("PUT", f"{API}/hfcd-shared/grants/hfcd-nowhere", data=json.dumps({"mode": "ro"}))
    assert r.status_code == 404
    r = await owner.api("PUT", f"{API}/hfcd-shared/grants/{LAB}", data=json.dumps({"mode": "ro"}))
    assert r.status_code == 400 and "grantee" in r.json()["errors"]
    r = await owner.api("PUT", grant, data=json.dumps({"mode": "all"}))
    assert r.status_code == 400 and "mode" in r.json()["errors"]
    r = await owner.api("PUT", grant, data=json.dumps({"mode": "rw"}))
    assert r.status_code == 200 and r.json()["mode"] == "rw"
    assert (await guest.api("GET", theirs)).json()["mode"] == "rw"

    assert (await owner.api("DELETE", grant)).status_code == 204
    assert (await owner.api("DELETE", grant)).status_code == 404
    assert (await guest.api("GET", theirs)).status_code == 404
    with read_scope(Hubfront.instance().db_url) as s:
        seen = [(a.group, a.action) for a in s.scalars(select(Activity).where(
            Activity.workload_id == "hfcd-shared", Activity.action.in_(["granted", "revoked"])))]
    assert seen == [(LAB, "granted"), (GUEST, "granted"), (LAB, "granted"), (GUEST, "granted"),
                    (LAB, "revoked"), (GUEST, "revoked")]


async def test_versions_env_and_sync(app):
    owner, member, boss, guest = await users(app)
    assert (await post(owner, API, {"name": "hfcd-v", "kind": "files"})).status_code == 201
    current = dataset_dir(Hubfront.instance().data_dir, "hfcd-v") / "current"
    (current / "a.csv").write_text("1,2\n")
    r = await owner.api("POST", f"{API}/hfcd-v/versions", data=json.dumps({"note": "first"}))
    assert r.status_code == 201 and (r.json()["ref"], r.json()["files"], r.json()["note"]) == ("hfcd-v@v1", 1, "first")
    r = await owner.api("POST", f"{API}/hfcd-v/versions", data=json.dumps({"not": "x"}))
    assert r.status_code == 400 and "not" in r.json()["errors"]
    assert [v["version"] for v in (await member.api("GET", f"{API}/hfcd-v/versions")).json()["versions"]] == [1]

    env = [{"key": "HOST", "value": "db.example.org"}, {"key": "PASSWORD", "value": "hunter2-x", "secret": True}]
    r = await post(owner, API, {"name": "hfcd-db", "kind": "env", "env": env})
    assert r.status_code == 201, r.text
    assert r.json()["env"] == [{"key": "HOST", "variable": "HFCD_DB_HOST", "secret": False, "value": "db.example.org"},
                               {"key": "PASSWORD", "variable": "HFCD_DB_PASSWORD", "secret": True, "value": None}]
    with read_scope(Hubfront.instance().db_url) as s:
        sealed = s.get(Dataset, "hfcd-db").env_encrypted
    assert "hunter2-x" not in sealed and "db.example.org" not in sealed
    # a change that leaves a secret's value out keeps it
    r = await owner.api("PATCH", f"{API}/hfcd-db", data=json.dumps({"env": [
        {"key": "HOST", "value": "db2.example.org"}, {"key": "PASSWORD", "secret": True}]}))
    assert r.status_code == 200 and r.json()["env"][0]["value"] == "db2.example.org"
    assert "hunter2-x" not in r.text
    r = await owner.api("POST", f"{API}/hfcd-db/versions", data="{}")
    assert r.status_code == 400 and "dataset" in r.json()["errors"]
    r = await owner.api("PUT", f"{API}/hfcd-db/grants/{GUEST}", data=json.dumps({"mode": "rw"}))
    assert r.status_code == 400 and "mode" in r.json()["errors"]

    r = await post(owner, API, {"name": "hfcd-code", "kind": "git", "git_url": "https://example.org/r.git",
                                "git_branch": "dev", "sync_interval": 3600})
    assert r.status_code == 201 and r.json()["git"]["status"] == "Waiting", r.text
    with read_scope(Hubfront.instance().db_url) as s:
        s.get(Dataset, "hfcd-code")
    r = await member.api("POST", f"{API}/hfcd-code/sync")
    assert r.status_code == 202 and r.json()["git"]["sync_requested"] is True
    assert (await member.api("POST", f"{API}/hfcd-v/sync")).status_code == 400
    assert (await member.api("POST", f"{API}/hfcd-code/sync", data='{"now": true}')).status_code == 400


async def test_git_urls_to_this_machine_are_refused(app, monkeypatch):
    owner, member, boss, guest = await users(app)
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **kw: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port)))] if host == "repo.internal.test"
        else real(host, port, *a, **kw))  # a DNS name that answers with this machine's loopback
    for url in ["http://127.0.0.1:8601/api/routes", "http://localhost:8000/x.git", "http://[::1]/x.git",
                "http://169.254.169.254/latest/meta-data/", "http://127.1/x", "http://0x7f.1/x",
                "http://2130706433/x", "http://[::ffff:127.0.0.1]/x", "ssh://git@127.0.0.1:6379/x",
                "git@0.0.0.0:x.git", "https://repo.internal.test/r.git"]:
        r = await post(owner, API, {"name": "hfcd-internal", "kind": "git", "git_url": url})
        assert r.status_code == 400 and list(r.json()["errors"]) == ["git_url"], (url, r.text)
        assert r.json()["message"].startswith("git_url: refused: ") and "may not point there" in r.text, r.text
    assert (await owner.api("GET", f"{API}/hfcd-internal")).status_code == 404  # nothing was made

    r = await post(owner, API, {"name": "hfcd-public", "kind": "git", "git_url": "https://example.org/r.git"})
    assert r.status_code == 201, r.text
    r = await member.api("PATCH", f"{API}/hfcd-public", data=json.dumps({"git_url": "http://127.0.0.1:8601/"}))
    assert r.status_code == 400 and "loopback" in r.json()["errors"]["git_url"]
    assert (await member.api("GET", f"{API}/hfcd-public")).json()["git"]["url"] == "https://example.org/r.git"


async def test_the_pages(app):
    owner, member, boss, guest = await users(app)
    await post(owner, API, {"name": "hfcd-page-files", "kind": "files", "description": "Pictures <b>x</b>",
                            "tags": ["vision"]})
    await post(owner, API, {"name": "hfcd-page-env", "kind": "env", "env": [
        {"key": "HOST", "value": "db.example.org"}, {"key": "TOKEN", "value": "tok-visible-never", "secret": True}]})
    await owner.api("PUT", f"{API}/hfcd-page-files/grants/{GUEST}", data=json.dumps({"mode": "ro"}))
    await owner.api("POST", f"{API}/hfcd-page-files/versions", data=json.dumps({"note": "baseline"}))

    page = await text(owner, "hub/portal/datasets")
    assert 'id="hf-dataset-form"' in page
    assert re.search(r'<a class="nav-link[^"]*" href="[^"]*/hub/portal/datasets"><i class="fa fa-database fa-fw"></i> '
                     r'Datasets</a>', page)  # the side menu's entry
    row = re.search(r'<tr class="hf-dataset" data-name="hfcd-page-files">.*?</tr>', page, re.S).group(0)
    assert "Pictures &lt;b&gt;x&lt;/b&gt;" in row and "vision" in row and "hfcd-guest · read-only" in row
    assert "read-write" in row  # the owner group's access

    page = await text(owner, "hub/portal/datasets/hfcd-page-files")
    assert 'id="hf-version-form"' in page and "hfcd-page-files@v1" in page and "baseline" in page
    assert 'id="hf-grant-form"' in page and 'id="hf-ds-files"' in page and "tus.min.js" in page
    page = await text(owner, "hub/portal/datasets/hfcd-page-env")
    assert "HFCD_PAGE_ENV_HOST" in page and 'value="db.example.org"' in page
    assert "tok-visible-never" not in page and "•••• (unchanged)" in page

    # the granted group sees it read-only, manages nothing; another dataset stays 404
    page = await text(guest, "hub/portal/datasets/hfcd-page-files")
    assert "hfcd-guest: read-only" in page and "may only read this dataset" in page
    assert 'id="hf-grant-form"' not in page and 'id="hf-version-form"' not in page and 'id="hf-ds-delete"' not in page
    assert (await guest.get("hub/portal/datasets/hfcd-page-env")).status_code == 404
    listing = await text(guest, "hub/portal/datasets")
    assert 'data-name="hfcd-page-files"' in listing and 'data-name="hfcd-page-env"' not in listing
    assert 'id="hf-dataset-form"' in listing  # they may create their own


async def test_a_job_picks_datasets(app):
    owner, member, boss, guest = await users(app)
    await post(owner, API, {"name": "hfcd-train", "kind": "files"})
    await owner.api("POST", f"{API}/hfcd-train/versions", data="{}")
    await post(owner, API, {"name": "hfcd-secret", "kind": "files"})
    await post(guest, f"/portal/groups/{GUEST}/datasets", {"name": "hfcd-theirs", "kind": "files"})
    jobs = f"/portal/groups/{LAB}/jobs"
    job = {"name": "train", "command": "ls ~/datasets"}

    r = await post(owner, jobs, {**job, "env": {"EPOCHS": "3"}, "datasets": ["hfcd-train@v1", "hfcd-secret"]})
    assert r.status_code == 201, r.text
    stored = r.json()
    # the picks have a column of their own: the job's environment is only what was asked for
    assert (stored["datasets"], stored["env"]) == (["hfcd-train@v1", "hfcd-secret"], {"EPOCHS": "3"})
    assert (await owner.api("GET", f"/portal/jobs/{stored['id']}")).json()["datasets"] == stored["datasets"]
    for picks, says in [(["hfcd-theirs"], "no dataset hfcd-theirs for group hfcd-lab"),  # another group's
                        (["hfcd-nothing"], "no dataset hfcd-nothing"),
                        (["hfcd-train@v9"], "dataset hfcd-train has no version v9"),
                        (["Bad Name"], "not a dataset name"),
                        (["hfcd-train", "hfcd-train@v1"], "picked twice"),
                        ("hfcd-train", "Datasets: must be a list")]:
        r = await post(owner, jobs, {**job, "datasets": picks})
        assert r.status_code == 400 and says in r.json()["errors"]["datasets"], (picks, r.text)
    # the old stop-gap's variable is Hubfront's, not a job's
    r = await post(owner, jobs, {**job, "env": {"HUBFRONT_JOB_DATASETS": "hfcd-train@v1"}})
    assert r.status_code == 400 and "env" in r.json()["errors"], r.text
    # a re-run keeps the picks (checked again)
    r = await owner.api("POST", f"/portal/jobs/{stored['id']}/rerun")
    assert r.status_code == 201, r.text
    assert (r.json()["datasets"], r.json()["env"], r.json()["rerun_of"]) == (stored["datasets"], {"EPOCHS": "3"},
                                                                             stored["id"])
    assert (await owner.api("GET", f"/portal/groups/{LAB}/jobs")).json()["jobs"][0]["datasets"] == stored["datasets"]
    page = await text(owner, f"hub/portal/jobs/{stored['id']}")
    assert '<td class="hf-picks"><code>hfcd-train@v1</code>, <code>hfcd-secret</code></td>' in page

    # recurring jobs: kept, changed, and handed to the jobs they start
    schedules = f"/portal/groups/{LAB}/schedules"
    r = await post(owner, schedules, {**job, "recurrence": "inactive", "datasets": ["hfcd-train@v1"]})
    assert r.status_code == 201 and r.json()["datasets"] == ["hfcd-train@v1"], r.text
    schedule = r.json()["id"]
    r = await owner.api("POST", f"/portal/schedules/{schedule}/run")
    assert r.status_code == 201 and r.json()["datasets"] == ["hfcd-train@v1"], r.text
    r = await owner.api("PATCH", f"/portal/schedules/{schedule}", data=json.dumps({"datasets": ["hfcd-theirs"]}))
    assert r.status_code == 400 and "hfcd-theirs" in r.json()["errors"]["datasets"], r.text
    r = await owner.api("PATCH", f"/portal/schedules/{schedule}", data=json.dumps({"command": "true"}))
    assert r.status_code == 200 and r.json()["datasets"] == ["hfcd-train@v1"], r.text  # other changes keep them
    r = await owner.api("PATCH", f"/portal/schedules/{schedule}", data=json.dumps({"datasets": ["hfcd-secret"]}))
    assert r.status_code == 200 and r.json()["datasets"] == ["hfcd-secret"], r.text
    assert (await owner.api("GET", f"/portal/schedules/{schedule}")).json()["datasets"] == ["hfcd-secret"]
    page = await text(owner, f"hub/portal/schedules/{schedule}")
    assert '<td class="hf-picks"><code>hfcd-secret</code></td>' in page
    edit = re.search(r'<div class="col-12 hf-dataset-picks".*?name="datasets"[^>]*>', page, re.S).group(0)
    assert re.search(r'id="hf-edit-ds-hfcd-secret" value="hfcd-secret" checked', edit)
    assert not re.search(r'id="hf-edit-ds-hfcd-train" value="hfcd-train" checked', edit)

    page = await text(owner, "hub/portal/jobs")
    picks = re.search(r'<div class="col-12 hf-dataset-picks".*?name="datasets"', page, re.S).group(0)
    assert 'data-name="hfcd-train"' in picks and '<option value="1">v1</option>' in picks
    assert 'data-name="hfcd-secret"' in picks and "hfcd-theirs" not in picks
