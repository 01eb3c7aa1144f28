"""Ownership, modes and ACLs of shared storage (group trees, datasets, shared folders).

The one place that runs ``setfacl`` and ``chown`` for storage (needs root and
the ``acl`` package). A shared directory is ``root:<gid>``, mode ``2770``
(setgid: what is made inside belongs to the group), with a default ACL that
gives the group rw on everything made inside whatever the workload's umask
(workloads run with 077), and others nothing. Files moved in keep their old
group and mode, so whoever moves them in calls :func:`adopt`.

With ``gid`` None (isolation off: the hub and workloads are one account) the
same layout is kept without groups or ACLs.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

SHARED_MODE = 0o2770
PERMS = {"ro": "r-X", "rw": "rwX", "rwd": "rwX"}


class SharingError(OSError):
    """setfacl or chown failed; the message says which and why."""


def _setfacl(*args: str) -> None:
    tool = shutil.which("setfacl")
    if tool is None:
        raise SharingError("setfacl is not installed (Debian package 'acl'; make os-tools)")
    proc = subprocess.run([tool, *args], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SharingError(f"setfacl {' '.join(args[:-1])}: {(proc.stderr or proc.stdout).strip()}")


def shared_dir(path: Path, gid: int | None) -> None:
    """``path`` (created if missing) as a group's shared directory: 2770 root:gid, default ACL g::rwX."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if gid is None:
        os.chmod(path, 0o700)
        return
    os.chown(path, 0, gid, follow_symlinks=False)
    os.chmod(path, SHARED_MODE)
    _setfacl("-m", "u::rwx,g::rwx,o::---,d:u::rwx,d:g::rwx,d:o::---", str(path))


def _entry(kind: str, ident: int, perm: str) -> str:
    return f"{kind}:{ident}:{perm},d:{kind}:{ident}:{perm}"


def grant_group(path: Path, gid: int, writable: bool) -> None:
    """Unix group ``gid`` may read (and write) everything under ``path``, including what is made later."""
    _setfacl("-R", "-m", _entry("g", gid, "rwX" if writable else "r-X"), str(path))


def revoke_group(path: Path, gid: int) -> None:
    _setfacl("-R", "-x", f"g:{gid},d:g:{gid}", str(path))


def grant_user(path: Path, uid: int, perm: str) -> None:
    """Account ``uid`` gets ``perm`` ("ro", "rw" or "rwd") on everything under ``path``."""
    if perm not in PERMS:
        raise ValueError(f"perm must be one of {', '.join(PERMS)}, not {perm!r}")
    _setfacl("-R", "-m", _entry("u", uid, PERMS[perm]), str(path))


def revoke_user(path: Path, uid: int) -> None:
    _setfacl("-R", "-x", f"u:{uid},d:u:{uid}", str(path))


def _adopt_one(path: str, st: os.stat_result, gid: int, dir_fd: int | None = None) -> None:
    if stat.S_ISLNK(st.st_mode):
        return
    if st.st_gid != gid:
        os.chown(path, -1, gid, dir_fd=dir_fd, follow_symlinks=False)
    mode = stat.S_IMODE(st.st_mode)
    wanted = mode | 0o060 | (0o2010 if stat.S_ISDIR(st.st_mode) else (0o010 if mode & 0o100 else 0))
    if wanted != mode:
        os.chmod(path, wanted, dir_fd=dir_fd)


def adopt(path: Path, gid: int | None) -> None:
    """A file or folder moved into a shared tree: group ``gid``, group rw (and X), folders setgid.

    Never follows symbolic links (a workload may have planted one).
    """
    if gid is None:
        return
    path = Path(path)
    st = os.lstat(path)
    _adopt_one(str(path), st, gid)
    if not stat.S_ISDIR(st.st_mode):
        return
    for _root, dirs, files, fd in os.fwalk(path, follow_symlinks=False):
        for name in dirs + files:
            try:
                _adopt_one(name, os.stat(name, dir_fd=fd, follow_symlinks=False), gid, fd)
            except FileNotFoundError:
                continue


def inherit_acl(path: Path) -> None:
    """A file moved into a folder gets the ACL it would have had if made there (the folder's default ACL).

    A no-op where the folder has no default ACL (isolation off).
    """
    path = Path(path)
    tool = shutil.which("getfacl")
    if tool is None or path.is_symlink():
        return
    proc = subprocess.run([tool, "--omit-header", "--default", "--numeric", "-p", str(path.parent)],
                          capture_output=True, text=True, timeout=60)
    entries = [line.split("#")[0].strip() for line in proc.stdout.splitlines()]
    entries = [e for e in entries if e]
    if proc.returncode != 0 or not entries:
        return
    if not path.is_dir():  # a file made with mode 0666 under this default ACL: no x anywhere
        entries = [e.rsplit(":", 1)[0] + ":" + e.rsplit(":", 1)[1].replace("x", "-") for e in entries]
    _setfacl("--set", ",".join(entries), str(path))
