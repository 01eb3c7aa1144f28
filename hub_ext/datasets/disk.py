"""Datasets' folders: made, granted, measured, snapshotted and removed (no database here).

A dataset's folder ``<data>/datasets/<name>/`` is root's (0700): only the groups
given an ACL entry on it pass, so it is the filesystem, not a convention, that
decides who reaches the contents. The owner group and groups granted read-only
get ``r-X`` on the whole folder (recursive and default, so what is made later
follows); groups granted read-write also get ``rwX`` on ``current/``, the only
part anyone writes. Versions and git clones are root's and read-only for all.

With ``gid`` None (isolation off: the hub and workloads are one account) the same
layout is kept without groups or ACLs.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from ..isolation import fdtree, safefs, shared
from ..isolation.shared import grant_group, revoke_group, shared_dir
from ..storage.tree import ensure_parent
from ..storage.usage import walk
from .records import CURRENT, dataset_dir, datasets_root, version_dir

TOP_MODE = 0o700
_measured: dict[str, tuple[float, tuple[int, int]]] = {}
MEASURE_TTL = 10.0  # seconds a measurement is reused


def ensure_top(data_dir, name: str, owner_gid: int | None) -> Path:
    """``<data>/datasets/<name>/``: root's, passable by the owner group only (until grants)."""
    ensure_parent(datasets_root(data_dir))
    top = dataset_dir(data_dir, name)
    try:
        safefs.ensure_dir(top, TOP_MODE)
    except safefs.Refused:
        raise ValueError(f"{top} is a symbolic link: refusing to use it as a dataset's folder") from None
    if owner_gid is not None:
        grant_group(top, owner_gid, writable=False)
    return top


def ensure_files(data_dir, name: str, owner_gid: int | None) -> Path:
    """A files dataset's ``current/``: the owner group's, group rw like group storage."""
    top = ensure_top(data_dir, name, owner_gid)
    current = top / CURRENT
    shared_dir(current, owner_gid)
    return current


def set_grant(data_dir, name: str, kind: str, gid: int | None, mode: str | None) -> None:
    """Group ``gid`` may use the dataset with ``mode`` ("ro", "rw"; None: not at all)."""
    top = dataset_dir(data_dir, name)
    if gid is None or not top.is_dir():
        return
    revoke_group(top, gid)
    if mode is None:
        return
    grant_group(top, gid, writable=False)
    if mode == "rw" and kind == "files":
        grant_group(top / CURRENT, gid, writable=True)


def measure(path: Path, fresh: bool = False) -> tuple[int, int]:
    """(bytes, files) under ``path``, symbolic links not followed; cached for a few seconds."""
    key = str(path)
    hit = _measured.get(key)
    if hit and not fresh and time.monotonic() - hit[0] < MEASURE_TTL:
        return hit[1]
    size, files = walk(path, skip=(".git",))
    _measured[key] = (time.monotonic(), (size, files))
    return size, files


def _readonly(fd: int, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        safefs.set_mode(fd, st, 0o555)
    elif stat.S_ISREG(st.st_mode):
        safefs.set_mode(fd, st, 0o555 if st.st_mode & 0o111 else 0o444, root_ok=True)


def _writable(fd: int, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        safefs.set_mode(fd, st, 0o755)
    elif stat.S_ISREG(st.st_mode):
        safefs.set_mode(fd, st, stat.S_IMODE(st.st_mode) | 0o200, root_ok=True)


def _each(path: Path, change) -> None:
    """``change(fd, st)`` on ``path`` (its parents the hub's) and everything in it, by descriptors."""
    with shared.opened(path) as (fd, st):
        change(fd, st)
        if stat.S_ISDIR(st.st_mode):
            top = safefs.reopen_dir(fd)
            try:
                fdtree.walk(top, lambda efd, est, _rel: change(efd, est))
            finally:
                os.close(top)


def make_readonly(path: Path) -> None:
    """Nobody writes under ``path`` (a version or clone: root's) any more: directories 0555, files 0444
    (0555 if executable), set-ID bits gone. Links are left as links, never followed."""
    _each(Path(path), _readonly)


def make_writable(path: Path) -> None:
    """The hub's own account may change or remove ``path`` again (needed when it is not root)."""
    _each(Path(path), _writable)


def workspace(path: Path, uid: int | None) -> None:
    """An empty folder ``path`` (beside a clone) for ``uid`` to write a new clone into, 0700."""
    parent = safefs.open_dir(Path(path).parent)
    try:
        os.close(safefs.make_dir(parent, Path(path).name, 0o700, -1 if uid is None else uid))
    finally:
        os.close(parent)


def hand_over(path: Path, uid: int) -> None:
    """The clone ``uid`` wrote in ``path`` becomes root's and read-only for everyone, by descriptors.

    Each folder is made root's (0555) before it is listed, so nothing the account still runs can add to
    it after; files with another name elsewhere (hard links), FIFOs, sockets and devices are removed,
    links stay links (root's)."""
    with shared.opened(path) as (fd, st):
        if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (uid, 0):
            raise OSError(f"{path} is not the clone's folder")
        top = safefs.reopen_dir(fd)
    try:
        _hand_over_dir(top)
    finally:
        os.close(top)


def _hand_over_dir(dfd: int) -> None:
    st = os.fstat(dfd)
    safefs.set_owner(dfd, st, 0, 0)
    safefs.set_mode(dfd, os.fstat(dfd), 0o555)
    with os.scandir(dfd) as it:
        names = sorted(e.name for e in it)
    for name in names:
        try:
            fd, est = safefs.entry(dfd, name)
        except FileNotFoundError:
            continue
        try:
            if stat.S_ISDIR(est.st_mode):
                sub = safefs.reopen_dir(fd)
                try:
                    _hand_over_dir(sub)
                finally:
                    os.close(sub)
            elif stat.S_ISLNK(est.st_mode):
                safefs.link_owner(dfd, name, 0, 0)
            elif stat.S_ISREG(est.st_mode) and est.st_nlink == 1:
                safefs.set_owner(fd, est, 0, 0)
                _readonly(fd, os.fstat(fd))
            else:
                fdtree.unlink_at(dfd, name)
        finally:
            os.close(fd)


def snapshot(data_dir, name: str, n: int) -> tuple[int, int]:
    """Copy ``current/`` to ``v<n>/`` (a real copy: later writes to current/ leave it as it is),
    read-only for everyone; returns its (bytes, files). Members write current/ meanwhile: it is read
    through descriptors (:func:`hub_ext.isolation.fdtree.copy_tree`), links copied as links."""
    top = dataset_dir(data_dir, name)
    target = version_dir(data_dir, name, n)
    partial = f".{target.name}.partial"
    top_fd = safefs.open_dir(top)
    try:
        fdtree.remove_at(top_fd, partial)
        safefs.mkdir_at(top_fd, partial)
        src = safefs.open_beneath(top_fd, CURRENT)
        dst = safefs.open_beneath(top_fd, partial)
        try:
            fdtree.copy_tree(src, dst, lambda st: 0o555 if st.st_mode & 0o111 else 0o444, dir_mode=0o555)
            os.fchmod(dst, 0o555)
        finally:
            os.close(src)
            os.close(dst)
        fdtree.rename_at(top_fd, partial, top_fd, target.name)
    finally:
        os.close(top_fd)
    return measure(target, fresh=True)


def remove_tree(path: Path) -> None:
    """``path`` (its parents the hub's) and everything in it; a link is removed, never followed."""
    path = Path(path)
    if os.geteuid() != 0:  # the hub's own account needs write permission to remove what is read-only
        try:
            make_writable(path)
        except (FileNotFoundError, safefs.Refused):
            pass
    fdtree.remove_path(path)


def remove(data_dir, name: str) -> None:
    """The dataset's whole folder (contents, versions, clone) is removed."""
    remove_tree(dataset_dir(data_dir, name))
