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
import shutil
import stat
import time
from pathlib import Path

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
    if top.is_symlink():
        raise ValueError(f"{top} is a symbolic link: refusing to use it as a dataset's folder")
    top.mkdir(mode=TOP_MODE, exist_ok=True)
    os.chmod(top, TOP_MODE)
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


def make_readonly(path: Path) -> None:
    """Nobody writes under ``path`` any more: directories 0555, files 0444 (0555 if executable)."""
    for root, dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                os.chmod(full, 0o555 if st.st_mode & 0o111 else 0o444)
        os.chmod(root, 0o555)


def make_writable(path: Path) -> None:
    """The hub's own account may change or remove ``path`` again (needed when it is not root)."""
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for name in files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                os.chmod(full, stat.S_IMODE(st.st_mode) | 0o200)


def snapshot(data_dir, name: str, n: int) -> tuple[int, int]:
    """Copy ``current/`` to ``v<n>/`` (a real copy: later writes to current/ leave it as it is),
    read-only for everyone; returns its (bytes, files)."""
    source = dataset_dir(data_dir, name) / CURRENT
    target = version_dir(data_dir, name, n)
    partial = target.with_name(f".{target.name}.partial")
    if partial.exists():
        remove_tree(partial)
    shutil.copytree(source, partial, symlinks=True)
    make_readonly(partial)
    os.rename(partial, target)
    return measure(target, fresh=True)


def remove_tree(path: Path) -> None:
    if path.is_symlink() or not path.exists():
        path.unlink(missing_ok=True)
        return
    make_writable(path)
    shutil.rmtree(path)


def remove(data_dir, name: str) -> None:
    """The dataset's whole folder (contents, versions, clone) is removed."""
    remove_tree(dataset_dir(data_dir, name))
