"""The immutable flag on a member-writable tree, set and cleared by root through descriptors only.

Used by the storage quota guard (:mod:`hub_ext.storage.quota_guard`) to make a group's tree read-only
while it is over quota, and by the hub to delete in such a tree. Checked on this machine's kernel
(6.18, ext4) before it was written:

- ``FS_IOC_SETFLAGS`` needs a descriptor opened for reading (one opened ``O_PATH`` answers EBADF): an
  entry is opened ``O_PATH|O_NOFOLLOW`` (:mod:`hub_ext.isolation.safefs`), checked on its fstat, and
  only then reopened through ``/proc/self/fd/N`` (the same inode, never a link's target, never a
  FIFO or device that an open could block on or act on);
- with ``FS_IMMUTABLE_FL`` set, ``write``/``pwrite``/``ftruncate``/``fallocate`` through a descriptor
  opened *before* fail with EPERM, a new ``open`` for writing fails with EPERM, a store into a shared
  mapping made before gets SIGBUS; a flagged folder refuses create, mkdir, unlink, rename and link
  into it (EPERM); the file's owner cannot clear the flag (only CAP_LINUX_IMMUTABLE can), and root
  itself cannot unlink, chmod or write a flagged entry until it clears the flag;
- the check is made once per system call: a single ``write`` or ``fallocate`` already past it
  completes whole (part of the quota guard's margin).

What gets the flag (:func:`flaggable`): folders, and regular files root may change by
:func:`hub_ext.isolation.safefs.may_change`'s reasoning — not root's own, and with one name or owned
by a workload account. A file of someone else hard-linked into a tree is never frozen (nor thawed).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import struct

from . import fdtree, safefs

FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IMMUTABLE_FL = 0x00000010
_UNSUPPORTED = (errno.ENOTTY, errno.EOPNOTSUPP, errno.EINVAL)  # a file system without these flags


def flags(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, struct.pack("i", 0)))[0]


def is_immutable(fd: int) -> bool:
    return bool(flags(fd) & FS_IMMUTABLE_FL)


def set_immutable(fd: int, on: bool) -> bool:
    """Set or clear the flag on the readable descriptor ``fd``; True if it changed."""
    old = flags(fd)
    new = (old | FS_IMMUTABLE_FL) if on else (old & ~FS_IMMUTABLE_FL)
    if new == old:
        return False
    fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", new))
    return True


def flaggable(st: os.stat_result) -> bool:
    """Whether root sets or clears the flag on this inode met in a member tree (module doc)."""
    if stat.S_ISDIR(st.st_mode):
        return True
    if not stat.S_ISREG(st.st_mode) or st.st_uid == 0:
        return False
    return st.st_nlink == 1 or safefs.workload_owned(st.st_uid)


def _readable(path_fd: int, st: os.stat_result) -> int:
    if stat.S_ISDIR(st.st_mode):
        return safefs.reopen_dir(path_fd)
    return os.open(f"/proc/self/fd/{path_fd}", os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)


def _set_on(path_fd: int, st: os.stat_result, on: bool, tree: bool) -> int:
    """The flag on the ``O_PATH`` descriptor's inode (and everything under a folder when ``tree``)."""
    if not flaggable(st):
        return 0
    fd = _readable(path_fd, st)
    try:
        return set_tree(fd, on) if tree and stat.S_ISDIR(st.st_mode) else int(set_immutable(fd, on))
    finally:
        os.close(fd)


def set_tree(fd: int, on: bool) -> int:
    """Set or clear the flag on the open folder ``fd`` and on every folder and :func:`flaggable` file
    under it; the number changed. Entries removed meanwhile are skipped."""
    changed = [int(set_immutable(fd, on))]

    def visit(path_fd: int, st: os.stat_result, _rel: str) -> None:
        try:
            changed[0] += _set_on(path_fd, st, on, tree=False)
        except FileNotFoundError:
            pass

    fdtree.walk(fd, visit)
    return changed[0]


def set_path(root, rel: str, on: bool, tree: bool = False) -> int:
    """The flag on ``root/rel`` (reached without following a link; ``root``'s parents are the hub's) and,
    with ``tree``, everything under it; 0 when it is gone or a link."""
    try:
        with safefs.beneath(root, rel) as fd:
            return _set_on(fd, os.fstat(fd), on, tree)
    except (FileNotFoundError, NotADirectoryError, safefs.Refused):
        return 0


def path_is_immutable(root, rel: str) -> bool:
    """Whether ``root/rel`` (a folder) carries the flag; False where it is missing or flags are unknown."""
    try:
        with safefs.beneath(root, rel, safefs.DIR_FLAGS) as fd:
            return is_immutable(fd)
    except (FileNotFoundError, NotADirectoryError, safefs.Refused):
        return False
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return False
        raise


def clear_for_removal(dir_fd: int, name: str) -> None:
    """Before root removes ``name`` from the open folder ``dir_fd`` in a tree locked read-only: clear the
    flag on that folder and on the entry (everything under it for a folder). The quota guard locks
    the tree again if it is still over quota. A file system without flags: nothing to clear."""
    try:
        set_immutable(dir_fd, False)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return
        raise
    try:
        fd, st = safefs.entry(dir_fd, name)
    except FileNotFoundError:
        return
    try:
        _set_on(fd, st, False, tree=True)
    finally:
        os.close(fd)
