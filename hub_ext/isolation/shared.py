"""Ownership, modes and ACLs of shared storage (group trees, datasets, shared folders).

The one place that sets ownership, modes and ACLs on storage (needs root and ACL support
in the file system). A shared directory is ``root:<gid>``, mode ``2770`` (setgid: what is
made inside belongs to the group), with a default ACL that gives the group rw on
everything made inside whatever the workload's umask (workloads run with 077), and others
nothing. Files moved in keep their old group and mode, so whoever moves them in calls
:func:`adopt`.

Members write these trees, so nothing here acts on a name: every inode is opened without
following links and changed through its descriptor, by the rule of :mod:`.safefs` (links,
other accounts' hard links and root's files are left alone; set-user-ID and set-group-ID
never survive on a file). A ``target`` is either a path whose parents are the hub's own
(the tree's top: ``<data>/groups/<group>``, a dataset's folder, a user's shared folder),
or an open descriptor of the entry (from :func:`.safefs.beneath`).

With ``gid`` None (isolation off: the hub and workloads are one account) the same
layout is kept without groups or ACLs.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

from . import acl, fdtree, safefs
from .acl import GROUP, GROUP_OBJ, OTHER, USER, USER_OBJ

SHARED_MODE = 0o2770
PERMS = {"ro": "r-X", "rw": "rwX", "rwd": "rwX"}
Target = Union[str, Path, int]


class SharingError(OSError):
    """An ACL or ownership change failed; the message says which and why."""


@contextmanager
def opened(target: Target) -> Iterator[tuple[int, os.stat_result]]:
    """``(O_PATH fd, fstat)`` of the target: a path (parents the hub's, the last part opened without
    following a link) or a descriptor the caller opened (not closed here)."""
    if isinstance(target, int):
        yield target, os.fstat(target)
        return
    path = Path(target)
    parent = safefs.open_dir(path.parent)
    try:
        fd, st = safefs.entry(parent, path.name)
    finally:
        os.close(parent)
    try:
        yield fd, st
    finally:
        os.close(fd)


def _dir_fd(fd: int, st: os.stat_result) -> int | None:
    return safefs.reopen_dir(fd) if stat.S_ISDIR(st.st_mode) else None


def shared_dir(path: Path, gid: int | None) -> None:
    """``path`` (created if missing; its parents the hub's) as a group's shared directory:
    2770 root:gid, default ACL g::rwX."""
    path = Path(path)
    os.makedirs(path.parent, exist_ok=True)
    parent = safefs.open_dir(path.parent)
    try:
        fd = safefs.make_dir(parent, path.name, 0o700 if gid is None else SHARED_MODE,
                             *((-1, -1) if gid is None else (0, gid)))
    finally:
        os.close(parent)
    try:
        if gid is None:
            return
        base = [(d, tag, acl.UNDEFINED, perm) for d in (False, True)
                for tag, perm in ((USER_OBJ, "rwx"), (GROUP_OBJ, "rwx"), (OTHER, "---"))]
        _acl(lambda: acl.modify(fd, os.fstat(fd), base, root_ok=True))
    finally:
        os.close(fd)


def _acl(action) -> None:
    try:
        action()
    except acl.AclError as exc:
        raise SharingError(exc.errno, str(exc)) from None


def _recursive(target: Target, changes) -> None:
    with opened(target) as (fd, st):
        dfd = _dir_fd(fd, st)
        if dfd is None:
            _acl(lambda: acl.modify(fd, st, changes))
            return
        try:
            _acl(lambda: acl.tree(dfd, changes))
        finally:
            os.close(dfd)


def _entries(tag: int, ident: int, perm: str | None):
    return [(False, tag, ident, perm), (True, tag, ident, perm)]


def grant_group(target: Target, gid: int, writable: bool) -> None:
    """Unix group ``gid`` may read (and write) everything under ``target``, including what is made later."""
    _recursive(target, _entries(GROUP, gid, "rwX" if writable else "r-X"))


def revoke_group(target: Target, gid: int) -> None:
    _recursive(target, _entries(GROUP, gid, None))


def grant_user(target: Target, uid: int, perm: str) -> None:
    """Account ``uid`` gets ``perm`` ("ro", "rw" or "rwd") on everything under ``target``."""
    if perm not in PERMS:
        raise ValueError(f"perm must be one of {', '.join(PERMS)}, not {perm!r}")
    _recursive(target, _entries(USER, uid, PERMS[perm]))


def revoke_user(target: Target, uid: int) -> None:
    _recursive(target, _entries(USER, uid, None))


def adopt_one(fd: int, st: os.stat_result, gid: int) -> bool:
    """One inode: group ``gid``, group rw (and X), folders setgid, files never set-ID; False when the
    rule of :mod:`.safefs` leaves it alone (a link, another account's hard link, root's file)."""
    if not safefs.set_owner(fd, st, -1, gid):
        return False
    st = os.fstat(fd)
    mode = stat.S_IMODE(st.st_mode)
    is_dir = stat.S_ISDIR(st.st_mode)
    wanted = mode | 0o060 | (0o2010 if is_dir else (0o010 if mode & 0o100 else 0))
    return safefs.set_mode(fd, st, wanted)


def adopt(target: Target, gid: int | None) -> None:
    """A file or folder moved into a shared tree (and all in it): group ``gid``, group rw (and X),
    folders setgid. Never follows symbolic links (a workload may have planted one)."""
    if gid is None:
        return
    with opened(target) as (fd, st):
        adopt_one(fd, st, gid)
        dfd = _dir_fd(fd, st)
        if dfd is None:
            return
        try:
            fdtree.walk(dfd, lambda efd, est, _rel: adopt_one(efd, est, gid))
        finally:
            os.close(dfd)


def inherit_acl(dir_fd: int, name: str) -> None:
    """``name`` (just moved into the folder ``dir_fd``) gets the ACL it would have had if made there
    (the folder's default ACL). A no-op where the folder has no default ACL (isolation off)."""
    fd, st = safefs.entry(dir_fd, name)
    try:
        _acl(lambda: acl.inherit(dir_fd, fd, st))
    finally:
        os.close(fd)
