"""Datasets on the real filesystem with real OS accounts (needs root: CI runs as root).

Two hub groups, one member each: the owner group's member writes the dataset; the other
group's member is granted read-only (reads, gets PermissionError on write), then read-write
(writes), then revoked (reaches nothing). Versions stay as they were when current/ changes;
a git dataset from a local bare repository syncs a new commit and is read-only for everyone.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import update

from hub_ext.datasets.git import GitError, sync
from hub_ext.datasets.records import CURRENT, dataset_dir, mounts_for_group, version_dir
from hub_ext.datasets.requests import DatasetCreate
from hub_ext.datasets.settings import Datasets
from hub_ext.datasets.store import DatasetStore
from hub_ext.isolation import Isolation
from hub_ext.services.dataset_sync import due, sync_dataset
from hub_ext.store import session_scope
from hub_ext.store.engine import read_scope
from hub_ext.store.models_storage import Dataset
from support import ACCOUNT_PREFIX, bare_repository, git, let_workloads_pass, need

pytestmark = pytest.mark.isolation
KEY = b"y3Jb1K7bQ2q0aXw5o2wq1iV7bQ0m3rJm6tQy8c1Zq9E="

PROBE = """
import os, sys
path, action = sys.argv[1], sys.argv[2]
try:
    if action == "read":
        print(open(path).read(), end="")
    elif action == "list":
        print(",".join(sorted(os.listdir(path))), end="")
    else:
        open(path, "w").write(action.split(":", 1)[1])
        print("WROTE", end="")
except PermissionError:
    print("DENIED", end="")
except OSError as exc:
    print(type(exc).__name__, exc.errno, end="")
"""


@pytest.fixture
def rig(tmp_path, sqlite_url):
    need(os.geteuid() == 0, "datasets' permissions need root and real accounts (CI runs as root)")
    let_workloads_pass(tmp_path)
    data = tmp_path / "data"
    data.mkdir(mode=0o711)
    iso = Isolation(isolate="always", account_prefix=ACCOUNT_PREFIX, data_dir=str(data))
    store = DatasetStore(sqlite_url, str(data), KEY, gid_of=iso.unix_gid)
    homes = data / "homes"
    owner = iso.account("dsfs-owner", ["dsfs-lab"], str(homes / "dsfs-owner"))
    other = iso.account("dsfs-other", ["dsfs-guest"], str(homes / "dsfs-other"))

    def as_user(account, path, action="read") -> str:
        proc = subprocess.run([sys.executable, "-c", PROBE, str(path), action], capture_output=True, text=True,
                              preexec_fn=iso.preexec(account, None, account.home), timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    as_user.isolation = iso
    return store, data, owner, other, as_user


def test_grants_are_enforced_by_the_filesystem(rig):
    store, data, owner, other, as_user = rig
    row = store.create(DatasetCreate(name="dsfs-images", kind="files"), "dsfs-lab", "dsfs-owner")
    current = dataset_dir(data, row.name) / CURRENT
    # the owner group's member writes (umask 077 notwithstanding, the group can read what they made)
    assert as_user(owner, current / "a.txt", "write:one") == "WROTE"
    assert as_user(owner, current / "a.txt") == "one"
    # not granted: the other group reaches nothing
    assert as_user(other, current / "a.txt") == "DENIED"
    assert as_user(other, dataset_dir(data, row.name), "list") == "DENIED"

    store.grant(row, "dsfs-guest", "ro", "dsfs-owner")
    assert as_user(other, current / "a.txt") == "one"
    assert as_user(other, current, "list") == "a.txt"
    assert as_user(other, current / "a.txt", "write:two") == "DENIED"
    assert as_user(other, current / "new.txt", "write:two") == "DENIED"
    # what the owner group makes later is readable by the granted group too (default ACLs)
    assert as_user(owner, current / "later.txt", "write:later") == "WROTE"
    assert as_user(other, current / "later.txt") == "later"

    store.grant(row, "dsfs-guest", "rw", "dsfs-owner")
    assert as_user(other, current / "a.txt", "write:two") == "WROTE"
    assert as_user(other, current / "b.txt", "write:three") == "WROTE"
    assert as_user(owner, current / "b.txt") == "three"  # and the owner group can read what they made
    assert as_user(owner, current / "b.txt", "write:four") == "WROTE"

    assert store.revoke(row, "dsfs-guest", "dsfs-owner")
    assert as_user(other, current / "a.txt") == "DENIED"
    assert as_user(other, current / "b.txt") == "DENIED"


def test_versions_are_read_only_snapshots(rig):
    store, data, owner, other, as_user = rig
    row = store.create(DatasetCreate(name="dsfs-labels", kind="files"), "dsfs-lab", "dsfs-owner")
    current = dataset_dir(data, row.name) / CURRENT
    assert as_user(owner, current / "labels.csv", "write:cat,dog") == "WROTE"
    store.grant(row, "dsfs-guest", "ro", "dsfs-owner")
    v1 = store.create_version(row, "first", "dsfs-owner")
    assert (v1.version, v1.files, v1.size) == (1, 1, len("cat,dog"))
    snap = version_dir(data, row.name, 1)

    assert as_user(owner, current / "labels.csv", "write:cat,dog,bird") == "WROTE"  # current/ changes ...
    assert as_user(owner, snap / "labels.csv") == "cat,dog"  # ... the version does not
    assert as_user(owner, snap / "labels.csv", "write:x") == "DENIED"  # nobody writes a version
    assert as_user(owner, snap / "new.csv", "write:x") == "DENIED"
    assert as_user(other, snap / "labels.csv") == "cat,dog"  # granted groups read it

    with session_scope(store.db_url) as s:
        mounts = {m.name: m for m in mounts_for_group(s, data, "dsfs-guest", pins={"dsfs-labels": 1}, key=KEY)}
        assert mounts["dsfs-labels"].path == snap and not mounts["dsfs-labels"].writable
        with pytest.raises(LookupError):
            mounts_for_group(s, data, "dsfs-guest", pins={"dsfs-labels": 7}, key=KEY)
        assert mounts_for_group(s, data, "dsfs-lab", key=KEY)[0].writable


def test_a_git_dataset_syncs_new_commits_read_only(rig, tmp_path):
    store, data, owner, other, as_user = rig
    bare, work = bare_repository(tmp_path, "first\n")

    row = store.create(DatasetCreate(name="dsfs-code", kind="git", git_url=str(bare)), "dsfs-lab", "dsfs-owner")
    assert row.name in due(store.db_url)  # made: asked to sync
    settings = Datasets(allow_local_git_urls=True)
    iso = as_user.isolation  # git runs as the group's service account, reading the repository as it may
    synced = sync_dataset(store.db_url, str(data), row.name, settings, isolation=iso)
    first = git("rev-parse", "HEAD", cwd=work)
    assert (synced.sync_status, synced.commit, synced.sync_message) == ("Synced", first, "First commit"), \
        synced.sync_message
    assert (synced.files, synced.size) == (1, len("first\n"))
    repo = dataset_dir(data, row.name) / "repo"
    assert as_user(owner, repo / "README.md") == "first\n"
    assert as_user(owner, repo / "README.md", "write:x") == "DENIED"  # read-only, even for its owner group
    assert as_user(owner, repo / "new.txt", "write:x") == "DENIED"
    assert as_user(other, repo / "README.md") == "DENIED"  # not granted

    (work / "README.md").write_text("second\n")
    git("commit", "-am", "Second commit", cwd=work)
    git("push", "origin", "HEAD:main", cwd=work)
    assert row.name not in due(store.db_url)  # on demand only, not asked
    store.request_sync(row, "dsfs-owner")
    store.grant(row, "dsfs-guest", "ro", "dsfs-owner")
    synced = sync_dataset(store.db_url, str(data), row.name, settings, isolation=iso)
    assert (synced.sync_status, synced.commit) == ("Synced", git("rev-parse", "HEAD", cwd=work))
    assert synced.commit != first and synced.sync_message == "Second commit"
    assert as_user(other, repo / "README.md") == "second\n"
    assert as_user(other, repo / "README.md", "write:x") == "DENIED"

    # where local repositories are not allowed, the runner refuses to fetch one (and says why)
    store.request_sync(row, "dsfs-owner")
    failed = sync_dataset(store.db_url, str(data), row.name, Datasets(allow_local_git_urls=False))
    assert failed.sync_status == "Failed" and "local repositories are not allowed" in failed.sync_message
    assert failed.commit == synced.commit  # the clone is kept as it was
    # a transport helper sneaked into the DB is refused before git runs, and by git itself
    pwned = tmp_path / "pwned"
    with session_scope(store.db_url) as s:
        s.execute(update(Dataset).where(Dataset.name == row.name).values(
            git_url=f"ext::sh -c touch% {pwned}", sync_requested=True))
    failed = sync_dataset(store.db_url, str(data), row.name, settings)
    assert failed.sync_status == "Failed" and not pwned.exists()
    with pytest.raises(GitError, match="transport 'ext' not allowed"):
        sync(tmp_path / "elsewhere", f"ext::sh -c touch% {pwned}", "main", protocols=["https", "file"], timeout=60)
    assert not pwned.exists()


def test_env_values_are_encrypted_at_rest(rig):
    store, data, owner, other, as_user = rig
    body = DatasetCreate.model_validate({"name": "dsfs-creds", "kind": "env", "env": [
        {"key": "USER", "value": "reader"}, {"key": "TOKEN", "value": "s3cret-value-42", "secret": True}]})
    row = store.create(body, "dsfs-lab", "dsfs-owner")
    with read_scope(store.db_url) as s:
        sealed = s.get(Dataset, row.name).env_encrypted
    assert sealed and "s3cret-value-42" not in sealed and "reader" not in sealed
    raw = open(store.db_url.removeprefix("sqlite:///"), "rb").read()
    assert b"s3cret-value-42" not in raw
    shown = store.as_json(store.get(row.name), "rw")["env"]
    assert shown == [{"key": "USER", "variable": "DSFS_CREDS_USER", "secret": False, "value": "reader"},
                     {"key": "TOKEN", "variable": "DSFS_CREDS_TOKEN", "secret": True, "value": None}]
    with session_scope(store.db_url) as s:
        env = {m.name: m.env for m in mounts_for_group(s, data, "dsfs-lab", key=KEY)}
    assert env["dsfs-creds"] == {"DSFS_CREDS_USER": "reader", "DSFS_CREDS_TOKEN": "s3cret-value-42"}
    assert not (dataset_dir(data, row.name)).exists()  # no folder for variables
