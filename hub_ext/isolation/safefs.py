"""File operations that never follow a path a member controls: the one place root touches member trees.

Group storage, shared folders, datasets' ``current/``, homes and app data are writable by
members' workloads, which may swap any entry for a symbolic link (or a hard link to someone
else's file) at any moment, between our check and our act (``renameat2(RENAME_EXCHANGE)`` in a
loop wins such races in well under a second). So nothing here looks a name up and then acts on
the name again:

- a path below a trusted root is opened with ``openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)``
  (or, where the kernel lacks it, a walk one component at a time with ``O_NOFOLLOW``);
- an entry is opened relative to its directory's descriptor with ``O_PATH | O_NOFOLLOW`` and the
  *descriptor* is fstat'ed; its mode and owner are changed through that descriptor
  (``/proc/self/fd/N``, ``fchownat(AT_EMPTY_PATH)``), so what is checked is what is changed;
- trees are walked with directory descriptors opened ``O_NOFOLLOW`` (:func:`walk`), removed with
  the fd-based ``shutil.rmtree(dir_fd=)`` and copied descriptor to descriptor.

What root may change (:func:`may_change`), the rule for inodes met inside a member tree:

- symbolic links: never (their targets are never reached either);
- directories: yes (they cannot be hard-linked, so a directory in the tree is the tree's);
- other files: only regular files, FIFOs and sockets with exactly one name (``st_nlink == 1``)
  that root does not own. A second name means the inode may be another account's file linked
  in (possible where ``fs.protected_hardlinks`` is 0): changing its mode or group would hand it
  to the tree's group. Root's own files are never made group-writable (an old ``/etc/shadow``
  left with one name in a tree by a rename elsewhere); a caller names the exception
  (``root_ok``) where the tree is the hub's own (dataset versions, git clones).

What root may read and copy out of a member tree (:func:`may_read`): regular files only, with one
name, or more names when a workload account owns the file (what a member could read already).

Set-user-ID and set-group-ID bits are never kept on a non-directory whose mode root sets
(:func:`set_mode`); directories keep set-group-ID (new files inherit the tree's group).

When the hub does not run as root there is no privilege to misuse: the ownership rules are not
applied (the descriptor discipline still is).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import pwd
import stat
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .names import COMMENT

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_SYS_OPENAT2 = 437  # the same number on every architecture (the generic syscall table)
_RESOLVE_NO_MAGICLINKS, _RESOLVE_NO_SYMLINKS, _RESOLVE_BENEATH = 0x02, 0x04, 0x08
_AT_EMPTY_PATH = 0x1000
_libc = ctypes.CDLL(None, use_errno=True)
_openat2_missing = False


class Refused(OSError):
    """A link (or a changed tree) where a real file or folder was expected: nothing was done."""

    def __init__(self, what: str):
        super().__init__(errno.ELOOP, what)


# -- opening ---------------------------------------------------------------------------------


def _openat2(dir_fd: int, rel: str, flags: int) -> int | None:
    """``openat2`` beneath ``dir_fd`` with no symlink anywhere; None where the kernel lacks it."""
    global _openat2_missing
    if _openat2_missing:
        return None
    how = struct.pack("QQQ", flags, 0, _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
    buf = ctypes.create_string_buffer(how, len(how))
    for _ in range(20):  # EAGAIN: a rename elsewhere raced the lookup; try again
        fd = _libc.syscall(_SYS_OPENAT2, dir_fd, os.fsencode(rel), buf, len(how))
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
        if err == errno.EAGAIN:
            continue
        if err == errno.ENOSYS:  # an older kernel
            _openat2_missing = True
            return None
        if err in (errno.EPERM, errno.ENOTDIR):  # a seccomp filter; a file or a link where a folder is
            return None  # wanted: the walk (as safe) finds out which
        if err in (errno.ELOOP, errno.EXDEV):
            raise Refused(f"{rel}: a symbolic link on the way")
        raise OSError(err, os.strerror(err), rel)
    raise OSError(errno.EAGAIN, "the tree kept changing while it was opened", rel)


def walk_open(root_fd: int, parts: list[str], make: Callable[[int, str], None] | None = None) -> int:
    """A descriptor of ``root_fd/parts…`` (directories), each step ``O_NOFOLLOW``.

    ``make(fd, part)``, if given, is called on each folder made where one was missing (mode 0770).
    A link on the way raises :class:`Refused`; a file where a folder is wanted NotADirectoryError.
    """
    fd = os.dup(root_fd)
    try:
        for part in parts:
            if make is not None:
                try:
                    os.mkdir(part, 0o770, dir_fd=fd)
                    make(fd, part)
                except FileExistsError:
                    pass
            nxt = _open_at(part, DIR_FLAGS, fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_link(exc: OSError, dir_fd: int | None, name: str) -> None:
    """Raise :class:`Refused` when ``exc`` (from an ``O_NOFOLLOW`` open of ``name``) met a link
    (ELOOP, or ENOTDIR with ``O_DIRECTORY``); the lstat only words the error, nothing acts on it."""
    if exc.errno == errno.ELOOP:
        raise Refused(f"{name}: a symbolic link") from None
    if exc.errno == errno.ENOTDIR:
        try:
            is_link = stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        except OSError:
            return
        if is_link:
            raise Refused(f"{name}: a symbolic link") from None


def _open_at(name: str, flags: int, dir_fd: int | None = None) -> int:
    """``os.open`` of ``name`` (``flags`` carry ``O_NOFOLLOW``), a link met said as :class:`Refused`."""
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        _refuse_link(exc, dir_fd, name)
        raise


def open_dir(path: str | Path) -> int:
    """The directory ``path`` whose parents are the hub's own (the data dir, ``groups/``, a dataset's
    top): only its last component may be a member's, and it is opened without following a link."""
    return _open_at(str(path), DIR_FLAGS)


def open_beneath(root_fd: int, rel: str, flags: int = DIR_FLAGS) -> int:
    """``rel`` ("a/b", "" for the root) beneath the open directory ``root_fd``, no link followed
    anywhere on the way or at the end (:class:`Refused` otherwise)."""
    parts = [p for p in rel.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise Refused(f"{rel}: not a plain path")
    if not parts:
        return os.dup(root_fd) if flags & os.O_DIRECTORY else os.open(".", flags, dir_fd=root_fd)
    fd = _openat2(root_fd, "/".join(parts), flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    if fd is not None:
        return fd
    parent = walk_open(root_fd, parts[:-1])
    try:
        return _open_at(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, parent)
    finally:
        os.close(parent)


@contextmanager
def beneath(root: str | Path, rel: str, flags: int = PATH_FLAGS) -> Iterator[int]:
    """A descriptor of ``root/rel`` (``O_PATH`` unless ``flags`` say otherwise), closed afterwards."""
    top = open_dir(root)
    try:
        fd = open_beneath(top, rel, flags)
    finally:
        os.close(top)
    try:
        yield fd
    finally:
        os.close(fd)


def entry(dir_fd: int, name: str) -> tuple[int, os.stat_result]:
    """``name`` in ``dir_fd`` opened ``O_PATH | O_NOFOLLOW`` (a link stays a link) and its fstat."""
    fd = os.open(name, PATH_FLAGS, dir_fd=dir_fd)
    try:
        return fd, os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise


def reopen_dir(path_fd: int) -> int:
    """A readable directory descriptor of the directory a descriptor (``O_PATH`` too) holds: the same inode."""
    return os.open(".", DIR_FLAGS, dir_fd=path_fd)


def _proc(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


# -- the rule --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def workload_owned(uid: int) -> bool:
    """Whether ``uid`` is a Hubfront workload account (never root, never another system account)."""
    try:
        return uid != 0 and pwd.getpwuid(uid).pw_gecos == COMMENT
    except KeyError:
        return False


def _privileged() -> bool:
    return os.geteuid() == 0


def may_change(st: os.stat_result, root_ok: bool = False) -> bool:
    """Whether root may change the mode, owner or ACL of this inode met in a member tree (module doc)."""
    if stat.S_ISLNK(st.st_mode):
        return False
    if stat.S_ISDIR(st.st_mode) or not _privileged():
        return True
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode)):
        return False
    return st.st_nlink == 1 and (st.st_uid != 0 or root_ok)


def may_read(st: os.stat_result) -> bool:
    """Whether root may read (copy, zip, send) this inode met in a member tree (module doc)."""
    if not stat.S_ISREG(st.st_mode):
        return False
    return not _privileged() or st.st_nlink == 1 or workload_owned(st.st_uid)


# -- changing one inode ----------------------------------------------------------------------


def safe_mode(st: os.stat_result, mode: int) -> int:
    """``mode`` without set-user-ID/set-group-ID on a non-directory (directories keep set-group-ID)."""
    mode &= 0o7777
    if stat.S_ISDIR(st.st_mode):
        return mode & ~stat.S_ISUID
    return mode & ~(stat.S_ISUID | stat.S_ISGID)


def set_mode(fd: int, st: os.stat_result, mode: int, root_ok: bool = False) -> bool:
    """Set the mode of the inode ``fd`` holds (``st`` its fstat), set-ID bits stripped; False when the
    rule refuses it (nothing done). Never a link: the descriptor was opened ``O_NOFOLLOW``."""
    if not may_change(st, root_ok):
        return False
    wanted = safe_mode(st, mode)
    if wanted != stat.S_IMODE(st.st_mode):
        os.chmod(_proc(fd), wanted)
    return True


def set_owner(fd: int, st: os.stat_result, uid: int = -1, gid: int = -1, root_ok: bool = False) -> bool:
    """chown the inode ``fd`` holds (-1 keeps a part); False when the rule refuses it. A link itself
    may be chowned (``link_owner``), never followed."""
    if not may_change(st, root_ok):
        return False
    if (uid == -1 or uid == st.st_uid) and (gid == -1 or gid == st.st_gid):
        return True
    _fchown_empty(fd, uid, gid)
    if not stat.S_ISDIR(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
        set_mode(fd, os.fstat(fd), stat.S_IMODE(st.st_mode), root_ok)
    return True


def _fchown_empty(fd: int, uid: int, gid: int) -> None:
    if _libc.fchownat(fd, b"", ctypes.c_uint32(uid & 0xFFFFFFFF), ctypes.c_uint32(gid & 0xFFFFFFFF),
                      _AT_EMPTY_PATH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def link_owner(dir_fd: int, name: str, uid: int, gid: int) -> None:
    """Hand the symbolic link ``name`` (just made by root) to ``uid:gid``; anything else swapped in its
    place (a file hard-linked there) is left as it is."""
    fd, st = entry(dir_fd, name)
    try:
        if stat.S_ISLNK(st.st_mode):
            _fchown_empty(fd, uid, gid)
    finally:
        os.close(fd)


def chown_at(dir_fd: int, name: str, uid: int = -1, gid: int = -1, mode: int | None = None) -> bool:
    """``name`` in ``dir_fd``: owner (and mode) set through its descriptor, by :func:`may_change`."""
    fd, st = entry(dir_fd, name)
    try:
        if not set_owner(fd, st, uid, gid):
            return False
        return mode is None or set_mode(fd, os.fstat(fd), mode)
    finally:
        os.close(fd)


def mkdir_at(dir_fd: int, name: str, mode: int = 0o700) -> None:
    """Make the folder ``name`` in ``dir_fd`` (FileExistsError if anything, a link too, is there)."""
    os.mkdir(name, mode, dir_fd=dir_fd)


def symlink_at(dir_fd: int, name: str, target: str) -> None:
    """Make the link ``name`` -> ``target`` in ``dir_fd`` (never writes through what is there)."""
    os.symlink(target, name, dir_fd=dir_fd)


def make_dir(dir_fd: int, name: str, mode: int, uid: int = -1, gid: int = -1) -> int:
    """``name`` in ``dir_fd``, made if missing, as an open directory descriptor with ``uid:gid`` and
    ``mode`` (``Refused`` if a link is in the way, NotADirectoryError if a file is)."""
    try:
        os.mkdir(name, mode & 0o777, dir_fd=dir_fd)
    except FileExistsError:
        pass
    fd = _open_at(name, DIR_FLAGS, dir_fd)
    try:
        st = os.fstat(fd)
        set_owner(fd, st, uid, gid)
        set_mode(fd, os.fstat(fd), mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def ensure_dir(path: str | Path, mode: int) -> None:
    """The hub's own folder ``path`` (``<data>/groups``, ``<data>/uploads``) exists with ``mode``; its
    parents are made as needed (they are the hub's), the folder itself never through a link."""
    path = Path(path)
    os.makedirs(path.parent, exist_ok=True)
    parent = open_dir(path.parent)
    try:
        os.close(make_dir(parent, path.name, mode))
    finally:
        os.close(parent)
