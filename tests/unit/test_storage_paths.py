"""Paths confined to a storage tree, group trees and their ownership (real files; real Unix groups as root)."""

from __future__ import annotations

import grp
import os
import stat
import subprocess

import pytest

from hub_ext.isolation import Isolation
from hub_ext.isolation.shared import adopt
from hub_ext.storage.paths import BadPath, clean, open_file, parent_fd, resolve
from hub_ext.storage.tree import ensure_group_root, group_root
from support import ACCOUNT_PREFIX


@pytest.mark.parametrize("rel, expected", [
    ("", ""), ("/", ""), ("a", "a"), ("a/b.csv", "a/b.csv"), ("a/b/", "a/b"), ("ü n i/x y", "ü n i/x y"),
])
def test_clean_accepts_relative_paths(rel, expected):
    assert clean(rel) == expected


@pytest.mark.parametrize("rel, problem", [
    ("..", "'..'"), ("a/../../etc", "'..'"), ("/etc/passwd", "leading '/'"), ("a\x00b", "NUL"),
    ("a//b", "empty"), ("./a", "'.'"), ("x" * 256, "at most 255 bytes"),
])
def test_clean_refuses_escapes_with_a_reason(rel, problem):
    with pytest.raises(BadPath, match=problem):
        clean(rel)


def test_resolve_refuses_symlinks_leading_outside(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "data").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("s")
    (root / "out").symlink_to(outside)
    (root / "out-file").symlink_to(outside / "secret")
    (root / "inside").symlink_to(root / "data")
    for rel in ("out", "out/secret", "out-file", "out/new-file"):
        with pytest.raises(BadPath, match="outside"):
            resolve(root, rel, must_exist=False)
    assert resolve(root, "inside") == (root / "data").resolve()
    assert resolve(root, "") == root.resolve()
    with pytest.raises(FileNotFoundError):
        resolve(root, "data/missing")
    assert resolve(root, "data/new", must_exist=False) == (root / "data" / "new").resolve()
    with pytest.raises(FileNotFoundError):
        resolve(root, "nope/new", must_exist=False)


def test_a_folder_swapped_for_a_symlink_after_the_check_is_refused(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "data").mkdir(parents=True)
    outside.mkdir()
    real = resolve(root, "data/f.txt", must_exist=False)
    (root / "data").rmdir()  # a workload swaps the folder for a link to elsewhere
    (root / "data").symlink_to(outside)
    with pytest.raises(BadPath, match="changed"):
        with parent_fd(root, real):
            pass
    (root / "data").unlink()
    (root / "data").mkdir()
    (root / "data" / "f.txt").symlink_to(outside / "planted")
    with pytest.raises(BadPath, match="changed"):
        open_file(root, real, os.O_WRONLY | os.O_CREAT)
    assert not (outside / "planted").exists()


def test_group_root_refuses_escaping_group_names(tmp_path):
    assert group_root(tmp_path, "research") == tmp_path / "groups" / "research"
    for bad in ("..", "a/b", "", "x\x00"):
        with pytest.raises(ValueError):
            group_root(tmp_path, bad)


@pytest.mark.skipif(os.geteuid() != 0, reason="Unix groups and ACLs need root")
def test_group_tree_is_the_groups_and_members_files_stay_group_rw(tmp_path):
    isolation = Isolation(account_prefix=ACCOUNT_PREFIX, data_dir=str(tmp_path), isolate="always")
    root = ensure_group_root(tmp_path, "tree-test", isolation)
    gid = isolation.unix_gid("tree-test")
    assert grp.getgrgid(gid).gr_name == f"{ACCOUNT_PREFIX}g-tree-test"
    st = root.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, gid, 0o2770)
    assert stat.S_IMODE((tmp_path / "groups").stat().st_mode) == 0o711
    acl = subprocess.run(["getfacl", "-p", str(root)], capture_output=True, text=True, check=True).stdout
    assert "default:group::rwx" in acl and "default:other::---" in acl
    # a workload with umask 077 still makes group-rw files (the default ACL wins over the umask)
    subprocess.run(["sh", "-c", f"umask 077; mkdir {root}/d; echo x > {root}/d/f"], check=True)
    assert stat.S_IMODE((root / "d" / "f").stat().st_mode) & 0o060 == 0o060
    assert (root / "d").stat().st_gid == gid
    # a file moved in from elsewhere keeps its group and mode until adopted
    elsewhere = tmp_path / "x.bin"
    elsewhere.write_bytes(b"1")
    os.chown(elsewhere, 65534, 65534)  # a member's file (root's own files are never adopted)
    os.chmod(elsewhere, 0o600)
    os.rename(elsewhere, root / "x.bin")
    adopt(root / "x.bin", gid)
    st = (root / "x.bin").stat()
    assert st.st_gid == gid and stat.S_IMODE(st.st_mode) == 0o660
    assert isolation.uid_of("nobody-has-this-account") is None
