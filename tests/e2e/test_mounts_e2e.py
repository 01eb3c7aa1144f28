"""Real notebook servers of two members of a group share ~/shared, where a file uploaded through the
Shared Files page lands; a member of another group cannot reach it (API 404, PermissionError); a folder shared by invitation shows up in the running notebook of the invitee with the
granted permission (the real hub running as root, as in CI)."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from playwright.sync_api import expect

from support import (
    REPO, RealHub, need, proxy_command, run_in_server, screenshot, stop_leftover_servers, ui_login, wait_for_server,
)

pytestmark = [pytest.mark.e2e, pytest.mark.isolation]

PASSWORD = "mnt-Passw0rd!"
TRY = """
import json, os
def attempt(f):
    try:
        return f()
    except PermissionError:
        return "PermissionError"
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "OS accounts need a hub running as root (CI runs the suite as root)")
    work = tmp_path_factory.mktemp("mounts-e2e")
    catalog = yaml.safe_load((REPO / "config" / "hubfront.yaml").read_text())
    catalog["catalog"]["instance_types"].append({"name": "tiny", "display_name": "Tiny", "cpu": "500m",
                                                 "memory": "512Mi"})
    catalog["groups"] = {}
    (work / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    (work / "data").mkdir()
    hub = RealHub(work / "data", env={"HUBFRONT_CATALOG": str(work / "catalog.yaml")})
    hub.start()
    try:
        admin = hub.admin()
        for group in ("mnt", "mnt-other"):
            assert admin.api("POST", f"/groups/{group}").status_code == 201
            r = admin.api("PUT", f"/portal/groups/{group}/policy", json={"policy": {"instance_types": ["tiny"]}})
            assert r.status_code == 200, r.text
        for name, group in (("ann", "mnt"), ("bob", "mnt"), ("cy", "mnt-other")):
            hub.add_user(name, PASSWORD, [group])
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)


def launch(hub, user, group):
    session = hub.login(user, PASSWORD)
    r = session.api("POST", f"/users/{user}/servers/{group}", json={"group": group, "instance_type": "tiny",
                                                                      "image": "base"})
    assert r.status_code in (201, 202), r.text
    wait_for_server(session, user, group, hub=hub)
    return session


def upload_through_the_page(page, hub, user, source) -> None:
    ui_login(page, hub, user, PASSWORD)
    page.goto(f"{hub.base_url}/hub/portal/files")
    page.set_input_files("#hf-upload-files", str(source))
    try:
        expect(page.locator(f'.hf-upload[data-path="{source.name}"] .hf-upload-status')).to_have_text(
            "100 % · done", timeout=60_000)
        expect(page.locator(f'tr.hf-entry[data-name="{source.name}"]')).to_be_visible()
    finally:
        screenshot(page, "shared-files-e2e-uploaded")


def test_members_notebooks_share_the_group_tree_and_invited_folders(hub, page, tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("x\n1\n")
    upload_through_the_page(page, hub, "ann", source)
    # a files dataset of mnt, granted read-only to mnt-other before anyone launches
    owner = hub.login("ann", PASSWORD)
    r = owner.api("POST", "/portal/groups/mnt/datasets", json={"name": "corpus", "kind": "files"})
    assert r.status_code == 201, r.text
    grant = "/portal/groups/mnt/datasets/corpus/grants/mnt-other"
    assert owner.api("PUT", grant, json={"mode": "ro"}).status_code == 200
    ann, bob, cy = launch(hub, "ann", "mnt"), launch(hub, "bob", "mnt"), launch(hub, "cy", "mnt-other")
    tree = str(hub.data_dir / "groups" / "mnt")
    out = run_in_server(ann, "ann", "mnt", "import os; print(open(os.path.expanduser('~/shared/data.csv')).read(),"
                        " end=''); print(os.environ['HUBFRONT_SHARED'])")
    assert out == "x\n1\n" + tree + "\n"
    out = run_in_server(bob, "bob", "mnt", "import os; p = os.path.expanduser('~/shared/');"
                        "print(open(p + 'data.csv').read(), end=''); open(p + 'out.csv', 'w').write('from bob\\n')")
    assert out == "x\n1\n"
    out = run_in_server(ann, "ann", "mnt", "import os; p = os.path.expanduser('~/shared/out.csv');"
                        "open(p, 'a').write('from ann\\n'); print(open(p).read(), end='')")
    assert out == "from bob\nfrom ann\n"
    out = run_in_server(cy, "cy", "mnt-other", TRY + f"print(json.dumps([attempt(lambda: os.listdir({tree!r})),"
                        f"attempt(lambda: open({tree + '/out.csv'!r}).read())]))")
    assert json.loads(out) == ["PermissionError", "PermissionError"]
    for path in ("/portal/groups/mnt/files/", "/portal/groups/mnt/files/data.csv", "/portal/groups/mnt/files/out.csv"):
        assert cy.api("GET", path).status_code == 404, path

    # the dataset: the owner group writes it; mnt-other reads it, and writes only once granted read-write
    run_in_server(ann, "ann", "mnt", "import os; open(os.path.expanduser('~/datasets/corpus/a.txt'), 'w').write('A')")
    probe = TRY + ("d = os.path.expanduser('~/datasets/corpus')\n"
                   "print(json.dumps([sorted(os.listdir(d)), attempt(lambda: open(d + '/a.txt').read()),"
                   " attempt(lambda: open(d + '/b.txt', 'w').write('B')), os.environ['HUBFRONT_DATASETS']]))")
    listed, read, wrote, where = json.loads(run_in_server(cy, "cy", "mnt-other", probe))
    assert (listed, read, wrote) == (["a.txt"], "A", "PermissionError") and where.endswith("datasets")
    assert owner.api("PUT", grant, json={"mode": "rw"}).status_code == 200
    listed, read, wrote, _ = json.loads(run_in_server(cy, "cy", "mnt-other", probe))
    assert (listed, read, wrote) == (["a.txt"], "A", 1)

    # ann shares a folder of hers with cy (another group) read-only; cy's running notebook sees it
    assert ann.api("POST", "/portal/folders", json={"name": "papers"}).status_code == 201
    run_in_server(ann, "ann", "mnt", "import os; open(os.path.expanduser('~/my-folders/papers/p.txt'), 'w')"
                  ".write('paper')")
    inv = ann.api("POST", "/portal/folders/papers/invitations", json={"invitee": "cy", "permission": "ro"}).json()
    assert cy.api("POST", f"/portal/folder-invitations/{inv['id']}/accept", json={}).status_code == 200
    probe = TRY + ("p = os.path.expanduser('~/shared-with-me/ann/papers/p.txt')\n"
                   "print(json.dumps([attempt(lambda: open(p).read()), attempt(lambda: open(p, 'a').write('!'))]))")
    assert json.loads(run_in_server(cy, "cy", "mnt-other", probe)) == ["paper", "PermissionError"]
    assert ann.api("PATCH", f"/portal/folder-invitations/{inv['id']}", json={"permission": "rw"}).status_code == 200
    assert json.loads(run_in_server(cy, "cy", "mnt-other", probe)) == ["paper", 1]
    assert ann.api("DELETE", f"/portal/folder-invitations/{inv['id']}").status_code == 200
    direct = str(hub.data_dir / "folders" / "ann" / "papers" / "p.txt")
    out = run_in_server(cy, "cy", "mnt-other", TRY + f"print(json.dumps(attempt(lambda: open({direct!r}).read())))")
    assert json.loads(out) == "PermissionError"
