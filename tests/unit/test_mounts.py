"""What a workload's home gets of storage: links to the group's tree, datasets (pins), the user's own
folders and folders shared with them; stale links go, the user's own files stay, nothing outside the
home is touched; the variables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hub_ext.keys import encrypt, load_key
from hub_ext.folders import disk, records
from hub_ext.storage.mounts import MountError, MountSource, apply_local, workload_mounts
from hub_ext.store import session_scope
from hub_ext.store.models_storage import Dataset, DatasetGrant


@pytest.fixture
def data(tmp_path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


def add_dataset(db_url, data, name, group, kind="files", grants=(), env=None):
    with session_scope(db_url) as s:
        row = Dataset(name=name, group=group, username="owner", kind=kind)
        if env is not None:
            row.env_encrypted = encrypt(load_key("", str(data)), json.dumps(
                [{"key": k, "value": v, "secret": False} for k, v in env.items()]))
        s.add(row)
        s.flush()
        for g, mode in grants:
            s.add(DatasetGrant(dataset=name, group=g, mode=mode))
    if kind == "files":
        (data / "datasets" / name / "current").mkdir(parents=True)


def links(home: Path) -> dict[str, str]:
    out = {}
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            p = Path(root) / name
            if p.is_symlink():
                out[str(p.relative_to(home))] = os.readlink(p)
    return out


def test_links_and_variables(sqlite_url, data, tmp_path):
    add_dataset(sqlite_url, data, "imgs", "research")
    add_dataset(sqlite_url, data, "texts", "teaching", grants=[("research", "ro")])
    add_dataset(sqlite_url, data, "other", "teaching")  # not granted to research
    add_dataset(sqlite_url, data, "creds", "research", kind="env", env={"TOKEN": "t0k", "URL": "http://x"})
    disk.create(data, "ann", "notes", None, None)
    disk.create(data, "bob", "papers", None, None)
    inv = records.create(sqlite_url, "bob", "papers", "ann", "ro")
    records.transition(sqlite_url, inv.id, "ann", "accept")
    disk.create(data, "bob", "drafts", None, None)
    records.create(sqlite_url, "bob", "drafts", "ann", "rw")  # pending: not mounted

    mounts = workload_mounts(sqlite_url, data, "ann", "research")
    home = tmp_path / "homes" / "ann"
    env = apply_local(mounts, home, None, None)

    assert links(home) == {
        "shared": str(data / "groups" / "research"),
        "datasets/imgs": str(data / "datasets" / "imgs" / "current"),
        "datasets/texts": str(data / "datasets" / "texts" / "current"),
        "my-folders/notes": str(data / "folders" / "ann" / "notes"),
        "shared-with-me/bob/papers": str(data / "folders" / "bob" / "papers"),
    }
    assert env == {"HUBFRONT_SHARED": str(data / "groups" / "research"),
                   "HUBFRONT_DATASETS": str(home / "datasets"), "CREDS_TOKEN": "t0k", "CREDS_URL": "http://x"}
    assert {m.name: m.writable for m in mounts.datasets if m.path} == {"imgs": True, "texts": False}


def test_stale_links_go_and_the_users_own_files_stay(sqlite_url, data, tmp_path):
    add_dataset(sqlite_url, data, "imgs", "research")
    disk.create(data, "bob", "papers", None, None)
    inv = records.create(sqlite_url, "bob", "papers", "ann", "rw")
    records.transition(sqlite_url, inv.id, "ann", "accept")
    home = tmp_path / "home"
    apply_local(workload_mounts(sqlite_url, data, "ann", "research"), home, None, None)
    (home / "datasets" / "mine.txt").write_text("my own file")
    os.symlink("/usr/share", home / "datasets" / "my-link")  # the user's own link, outside the data dir

    with session_scope(sqlite_url) as s:  # the dataset goes; the owner revokes; ann moves to teaching
        s.delete(s.get(Dataset, "imgs"))
    records.transition(sqlite_url, inv.id, "bob", "revoke")
    apply_local(workload_mounts(sqlite_url, data, "ann", "teaching"), home, None, None)

    assert links(home) == {"shared": str(data / "groups" / "teaching"), "datasets/my-link": "/usr/share"}
    assert (home / "datasets" / "mine.txt").read_text() == "my own file"
    assert not (home / "shared-with-me" / "bob").exists()  # the owner's empty folder went too


def test_a_planted_symlink_never_makes_root_write_outside_the_home(sqlite_url, data, tmp_path):
    add_dataset(sqlite_url, data, "imgs", "research")
    outside = tmp_path / "outside"
    outside.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    os.symlink(outside, home / "datasets")  # ~/datasets -> somewhere else
    (home / "shared").mkdir()  # a real folder of the user's where ~/shared would go
    (home / "shared" / "keep.txt").write_text("x")
    env = apply_local(workload_mounts(sqlite_url, data, "ann", "research"), home, None, None)
    assert list(outside.iterdir()) == []
    assert (home / "shared" / "keep.txt").read_text() == "x"
    assert env["HUBFRONT_SHARED"] == str(data / "groups" / "research")  # the variable is right regardless


def test_pins_pick_versions_in_the_workloads_own_folder(sqlite_url, data, tmp_path):
    add_dataset(sqlite_url, data, "imgs", "research")
    (data / "datasets" / "imgs" / "v3").mkdir()
    home = tmp_path / "home"
    source = MountSource(sqlite_url, data)
    source.apply("ann", "research", home)
    env = source.apply("ann", "research", home, pins={"imgs": 3}, datasets_dir=home / "jobs" / "7" / "datasets")
    assert env["HUBFRONT_DATASETS"] == str(home / "jobs" / "7" / "datasets")
    assert os.readlink(home / "jobs" / "7" / "datasets" / "imgs") == str(data / "datasets" / "imgs" / "v3")
    assert os.readlink(home / "datasets" / "imgs") == str(data / "datasets" / "imgs" / "current")  # untouched
    assert (data / "groups" / "research").is_dir()  # the group's tree is made on first use
    with pytest.raises(MountError, match="v9"):
        source.apply("ann", "research", home, pins={"imgs": 9}, datasets_dir=home / "jobs" / "8" / "datasets")


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_links_belong_to_the_account(sqlite_url, data, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    apply_local(workload_mounts(sqlite_url, data, "ann", "research"), home, 65534, 65534)
    for p in (home / "shared", home / "datasets", home / "my-folders", home / "shared-with-me"):
        assert os.lstat(p).st_uid == 65534, p
