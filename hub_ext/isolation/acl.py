"""POSIX ACLs read and written on an opened inode, never by name.

``setfacl -R`` walks by name and follows a link swapped in at the right moment; here the
``system.posix_acl_access`` / ``system.posix_acl_default`` extended attributes are read and
written through ``/proc/self/fd/N`` of a descriptor :mod:`.safefs` opened without following
links, and trees are walked with :func:`.fdtree.walk`.

The attributes' format (the kernel's ``posix_acl_xattr``): a little-endian u32 version (2),
then ``(u16 tag, u16 perm, u32 id)`` entries sorted by tag, then id. Named entries need a
MASK entry; like ``setfacl`` the mask is recomputed as the union of the group class
(named users, the owning group, named groups) after every change, and a default ACL made
where there was none starts from the inode's owner, group and other permissions.
``X`` in a permission means execute on directories and on files some user may execute.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

from . import fdtree, safefs

ACCESS, DEFAULT = "system.posix_acl_access", "system.posix_acl_default"
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
UNDEFINED = 0xFFFFFFFF
_VERSION = 2
_NAMED = (USER, GROUP)
TAGS = {"u": USER, "g": GROUP}

Acl = dict  # {(tag, id): perm bits}


class AclError(OSError):
    """The file system refused the ACL (no ACL support, say); the message says which."""


def parse(blob: bytes) -> Acl:
    (version,) = struct.unpack_from("<I", blob)
    if version != _VERSION or (len(blob) - 4) % 8:
        raise AclError(errno.EINVAL, f"not a POSIX ACL (version {version}, {len(blob)} bytes)")
    out: Acl = {}
    for off in range(4, len(blob), 8):
        tag, perm, ident = struct.unpack_from("<HHI", blob, off)
        out[(tag, ident if tag in _NAMED else UNDEFINED)] = perm & 7
    return out


def pack(acl: Acl) -> bytes:
    entries = sorted(acl.items())
    return struct.pack("<I", _VERSION) + b"".join(struct.pack("<HHI", tag, perm & 7, ident)
                                                 for (tag, ident), perm in entries)


def from_mode(mode: int) -> Acl:
    return {(USER_OBJ, UNDEFINED): (mode >> 6) & 7, (GROUP_OBJ, UNDEFINED): (mode >> 3) & 7,
            (OTHER, UNDEFINED): mode & 7}


def bits(text: str, st: os.stat_result) -> int:
    """``"rwX"`` → 7 on a directory or an executable file, 6 otherwise (``setfacl``'s meaning)."""
    execute = stat.S_ISDIR(st.st_mode) or bool(st.st_mode & 0o111)
    out = 0
    for char, bit in zip(text.ljust(3, "-")[:3], (4, 2, 1)):
        if char in "rwx":
            out |= bit
        elif char == "X" and execute:
            out |= bit
    return out


def with_mask(acl: Acl) -> Acl:
    """The mask recomputed from the group class; no mask where there are no named entries."""
    acl = {k: v for k, v in acl.items() if k[0] != MASK}
    if any(tag in _NAMED for tag, _ in acl):
        acl[(MASK, UNDEFINED)] = 0
        for (tag, _), perm in list(acl.items()):
            if tag in (USER, GROUP_OBJ, GROUP):
                acl[(MASK, UNDEFINED)] |= perm
    return acl


def _path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def read(fd: int, st: os.stat_result, default: bool = False) -> Acl | None:
    """The inode's ACL; the access ACL of one without any is its mode's; None: no default ACL."""
    try:
        return parse(os.getxattr(_path(fd), DEFAULT if default else ACCESS))
    except OSError as exc:
        if exc.errno not in (errno.ENODATA, errno.EOPNOTSUPP):
            raise
    if default:
        return None
    acl = from_mode(st.st_mode)
    return acl


def write(fd: int, acl: Acl, default: bool = False) -> None:
    """Write the ACL as it is (the caller has checked the inode with :func:`safefs.may_change`)."""
    try:
        os.setxattr(_path(fd), DEFAULT if default else ACCESS, pack(acl))
    except OSError as exc:
        raise AclError(exc.errno, f"setting the ACL failed: {exc.strerror} (is the file system mounted "
                                  "with ACL support?)") from None


def remove_default(fd: int) -> None:
    try:
        os.removexattr(_path(fd), DEFAULT)
    except OSError as exc:
        if exc.errno not in (errno.ENODATA, errno.EOPNOTSUPP):
            raise


def modify(fd: int, st: os.stat_result, changes: list[tuple[bool, int, int, str | None]],
           root_ok: bool = False) -> bool:
    """Apply ``(default?, tag, id, "rwX" or None to remove)`` changes to the inode ``fd`` holds, as
    ``setfacl -m``/``-x`` would; default entries only on directories. False when the rule refuses it."""
    if not safefs.may_change(st, root_ok):
        return False
    is_dir = stat.S_ISDIR(st.st_mode)
    for default in (False, True):
        wanted = [c for c in changes if c[0] == default]
        if not wanted or (default and not is_dir):
            continue
        current = read(fd, st, default)
        new = current is None
        if new:  # a new default ACL starts from the access ACL's base entries
            access = read(fd, st)
            current = {k: v for k, v in access.items() if k[0] in (USER_OBJ, GROUP_OBJ, OTHER)}
        acl = dict(current)
        for _, tag, ident, text in wanted:
            key = (tag, ident if tag in _NAMED else UNDEFINED)
            if text is None:
                acl.pop(key, None)
            else:
                acl[key] = bits(text, st)
        acl = with_mask(acl)
        if acl != current or (new and any(text is not None for *_, text in wanted)):
            write(fd, acl, default)
    _strip_set_id(fd, root_ok)
    return True


def _strip_set_id(fd: int, root_ok: bool = False) -> None:
    """No set-user-ID/set-group-ID left on a file root has just touched (folders keep setgid)."""
    st = os.fstat(fd)
    if not stat.S_ISDIR(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
        safefs.set_mode(fd, st, stat.S_IMODE(st.st_mode), root_ok)


def inherit(parent_fd: int, fd: int, st: os.stat_result) -> bool:
    """The inode ``fd`` (just moved into the folder ``parent_fd``) gets the ACL it would have had if
    made there: the folder's default ACL (no execute on files); folders get it as their default too.
    A no-op where the folder has none."""
    if not safefs.may_change(st):
        return False
    pst = os.fstat(parent_fd)
    default = read(parent_fd, pst, default=True)
    if not default:
        return False
    is_dir = stat.S_ISDIR(st.st_mode)
    access = dict(default) if is_dir else {k: v & ~1 for k, v in default.items()}
    write(fd, with_mask(access))
    if is_dir:
        write(fd, with_mask(dict(default)), default=True)
    _strip_set_id(fd)
    return True


def tree(top_fd: int, changes: list[tuple[bool, int, int, str | None]], root_ok_top: bool = True) -> None:
    """:func:`modify` on the directory ``top_fd`` (the hub's own top folder: ``root_ok_top``) and on
    everything under it that the rule allows (links and other accounts' hard links skipped)."""
    st = os.fstat(top_fd)
    modify(top_fd, st, changes, root_ok=root_ok_top)
    fdtree.walk(top_fd, lambda fd, est, _rel: modify(fd, est, changes))
