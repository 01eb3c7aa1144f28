"""The fd-based primitives root uses on member trees (hub_ext.isolation.safefs and .acl): links are never
followed, set-ID bits never survive, ACLs written through a descriptor read back with getfacl, another
account's hard-linked file is never touched. Ownership checks need root (CI runs as root)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from hub_ext.isolation import acl, fdtree, safefs, shared
from support import need

NOBODY = 65534


@pytest.fixture
def as_root():
    need(os.geteuid() == 0, "changing owners and other accounts' files needs root (CI runs as root)")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_open_beneath_refuses_a_link_anywhere_on_the_way(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("s")
    (root / "a" / "out").symlink_to(outside)
    (root / "a" / "f").symlink_to(outside / "secret")
    top = safefs.open_dir(root)
    try:
        for rel in ("a/out", "a/out/secret"):
            with pytest.raises(safefs.Refused):
                os.close(safefs.open_beneath(top, rel))
        with pytest.raises(safefs.Refused):
            os.close(safefs.open_beneath(top, "a/f", os.O_RDONLY))
        with pytest.raises(safefs.Refused):
            os.close(safefs.open_beneath(top, "../outside"))
        # O_PATH | O_NOFOLLOW: the link itself, which the caller sees as a link and leaves alone
        fd = safefs.open_beneath(top, "a/f", safefs.PATH_FLAGS)
        assert stat.S_ISLNK(os.fstat(fd).st_mode)
        os.close(fd)
    finally:
        os.close(top)
    with pytest.raises(safefs.Refused):
        safefs.open_dir(root / "a" / "out")


def test_the_walk_fallback_refuses_links_too(tmp_path, monkeypatch):
    monkeypatch.setattr(safefs, "_openat2_missing", True)
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to(tmp_path / "d")
    top = safefs.open_dir(tmp_path)
    try:
        with pytest.raises(safefs.Refused):
            safefs.open_beneath(top, "l")
        fd = safefs.open_beneath(top, "d")
        assert stat.S_ISDIR(os.fstat(fd).st_mode)
        os.close(fd)
    finally:
        os.close(top)


def test_mode_changes_refuse_links_and_strip_set_id_bits(tmp_path):
    target = tmp_path / "target"
    target.write_text("t")
    target.chmod(0o600)
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "tool").chmod(0o4755)
    (tmp_path / "dir").mkdir()
    top = safefs.open_dir(tmp_path)
    try:
        fd, st = safefs.entry(top, "link")
        assert not safefs.set_mode(fd, st, 0o666)
        os.close(fd)
        fd, st = safefs.entry(top, "tool")
        assert safefs.set_mode(fd, st, 0o6775, root_ok=True)  # the hub's own file (root_ok), as not root
        os.close(fd)
        fd, st = safefs.entry(top, "dir")
        assert safefs.set_mode(fd, st, 0o2770)
        os.close(fd)
    finally:
        os.close(top)
    assert _mode(target) == 0o600
    assert _mode(tmp_path / "tool") == 0o775
    assert _mode(tmp_path / "dir") == 0o2770  # folders keep setgid: new files get the tree's group


def test_adopt_strips_set_user_id_and_never_follows_links(tmp_path, as_root):
    tree, canary = tmp_path / "tree", tmp_path / "canary"
    tree.mkdir()
    canary.write_text("root's")
    canary.chmod(0o600)
    (tree / "sub").mkdir()
    (tree / "sub" / "tool").write_text("#!/bin/sh\n")
    os.chown(tree / "sub" / "tool", NOBODY, NOBODY)
    (tree / "sub" / "tool").chmod(0o4755)
    (tree / "sub" / "to-canary").symlink_to(canary)
    shared.adopt(tree, 4242)
    st = os.stat(tree / "sub" / "tool")
    assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (4242, 0o775)
    assert _mode(tree / "sub") == 0o2775  # made 0755: group rw, setgid
    assert (os.stat(canary).st_uid, os.stat(canary).st_gid, _mode(canary)) == (0, 0, 0o600)


def test_another_accounts_hard_linked_file_is_never_changed(tmp_path, as_root):
    tree, foreign = tmp_path / "tree", tmp_path / "foreign"
    tree.mkdir()
    foreign.write_text("someone else's")
    os.chown(foreign, NOBODY, NOBODY)
    foreign.chmod(0o600)
    os.link(foreign, tree / "linked")  # what a member can do where fs.protected_hardlinks is 0
    (tree / "root-made").write_text("r")
    (tree / "root-made").chmod(0o600)
    shared.adopt(tree, 4242)
    shared.grant_user(tree, 4343, "rw")
    st = os.stat(foreign)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY, NOBODY, 0o600)
    assert os.stat(tree / "root-made").st_gid == 0 and _mode(tree / "root-made") == 0o600
    assert "4343" not in subprocess.run(["getfacl", "-n", "-p", str(foreign)], capture_output=True,
                                        text=True).stdout
    top = safefs.open_dir(tree)
    try:
        assert fdtree.open_read(top, "linked") is None  # nor copied or zipped out of the tree
    finally:
        os.close(top)


def test_acls_written_through_the_descriptor_read_back_with_getfacl(tmp_path, as_root):
    tree = tmp_path / "tree"
    shared.shared_dir(tree, 4242)
    (tree / "d").mkdir()
    (tree / "d" / "f").write_text("x")
    (tree / "d" / "f").chmod(0o640)
    (tree / "d" / "run.sh").write_text("x")
    (tree / "d" / "run.sh").chmod(0o750)
    for name in ("f", "run.sh"):  # a member's files
        os.chown(tree / "d" / name, NOBODY, NOBODY)
    shared.grant_user(tree, 4343, "rw")
    shared.grant_group(tree, 4444, writable=False)

    def getfacl(path):
        out = subprocess.run(["getfacl", "-n", "-p", "-E", str(path)], capture_output=True, text=True, check=True)
        return set(out.stdout.split())

    top = getfacl(tree)
    assert {"user::rwx", "group::rwx", "other::---", "user:4343:rwx", "group:4444:r-x", "mask::rwx",
            "default:user:4343:rwx", "default:group:4444:r-x", "default:group::rwx", "default:mask::rwx"} <= top
    assert {"user:4343:rw-", "group:4444:r--", "mask::rw-"} <= getfacl(tree / "d" / "f")
    assert {"user:4343:rwx", "group:4444:r-x"} <= getfacl(tree / "d" / "run.sh")
    # made later: the default ACL gives it the grants (the kernel applies what acl.py wrote)
    (tree / "d" / "later").write_text("y")
    assert {"user:4343:rwx", "mask::rw-"} <= getfacl(tree / "d" / "later")
    shared.revoke_user(tree, 4343)
    assert not any("4343" in e for e in getfacl(tree) | getfacl(tree / "d" / "f"))
    assert "group:4444:r-x" in getfacl(tree)
    # an inode's own ACL bytes parse and pack back unchanged
    fd = safefs.open_dir(tree)
    try:
        blob = os.getxattr(f"/proc/self/fd/{fd}", acl.ACCESS)
        assert acl.pack(acl.parse(blob)) == blob
    finally:
        os.close(fd)


def test_inherit_acl_gives_a_moved_in_file_the_folders_default(tmp_path, as_root):
    tree = tmp_path / "tree"
    shared.shared_dir(tree, 4242)
    shared.grant_user(tree, 4343, "ro")
    (tmp_path / "moved").write_text("m")
    os.chown(tmp_path / "moved", NOBODY, NOBODY)
    os.chmod(tmp_path / "moved", 0o4700)
    os.rename(tmp_path / "moved", tree / "moved")
    top = safefs.open_dir(tree)
    try:
        shared.inherit_acl(top, "moved")
    finally:
        os.close(top)
    out = subprocess.run(["getfacl", "-n", "-p", str(tree / "moved")], capture_output=True, text=True).stdout
    assert "user:4343:r--" in out and "group::rw-" in out
    assert not _mode(tree / "moved") & stat.S_ISUID


def test_copy_tree_copies_files_and_links_but_not_what_a_link_points_at(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "a").mkdir(parents=True)
    (src / "a" / "f").write_bytes(b"data" * 1000)
    (src / "l").symlink_to("/etc/hostname")
    dst.mkdir()
    s, d = safefs.open_dir(src), safefs.open_dir(dst)
    try:
        fdtree.copy_tree(s, d, lambda st: 0o444, dir_mode=0o555)
    finally:
        os.close(s)
        os.close(d)
    assert (dst / "a" / "f").read_bytes() == b"data" * 1000
    assert _mode(dst / "a" / "f") == 0o444 and _mode(dst / "a") == 0o555
    assert os.readlink(dst / "l") == "/etc/hostname"


def test_remove_at_unlinks_a_link_and_leaves_its_target(tmp_path):
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "f").write_text("k")
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "l").symlink_to(tmp_path / "keep")
    (tmp_path / "l2").symlink_to(tmp_path / "keep")
    assert fdtree.remove_path(tmp_path / "tree")
    assert fdtree.remove_path(tmp_path / "l2")
    assert not fdtree.remove_path(tmp_path / "nothing")
    assert (tmp_path / "keep" / "f").read_text() == "k"
