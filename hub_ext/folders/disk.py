"""A user's own folders on disk: ``<data>/folders/<owner>/<folder>/``, and the OS grants on them.

- ``<data>/folders/`` and ``<data>/folders/<owner>/`` belong to root, mode 0711: workload
  accounts pass through (to folders they were granted) but cannot list or create there,
  so nobody can slip a symlink or a folder of their own in beside the real ones.
- ``<data>/folders/<owner>/<folder>/`` belongs to the owner's account, mode 0700; an
  accepted invitation adds an ACL entry for the invitee's account (``grant``), recursive
  and default, so what is created inside later carries it too. Without isolation (the hub
  not root) the same layout is made as the hub's user, with no ACLs.

Permissions, enforced by the kernel through ``hub_ext.isolation.shared.grant_user``:
``ro`` read and list; ``rw`` read, write, create (the folders get the sticky bit, so an
invitee can delete or rename only what they created, not the owner's files); ``rwd``
everything ``rw`` allows plus deleting and renaming anything in the folder.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..isolation import fdtree, safefs
from . import records
from .records import InvitationError

FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
FOLDER_RULE = "1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit"
PASS_MODE = 0o711


def check_name(name: str) -> str:
    if not isinstance(name, str) or not FOLDER_NAME.match(name):
        raise InvitationError("name", FOLDER_RULE)
    return name


def folders_root(data_dir) -> Path:
    return Path(data_dir) / "folders"


def owner_dir(data_dir, owner: str) -> Path:
    """``<data>/folders/<owner>``: the user name as is when it is a plain name, else %-quoted."""
    name = quote(owner, safe="")
    return folders_root(data_dir) / (name if not name.startswith(".") else "%2E" + name[1:])


def folder_path(data_dir, owner: str, folder: str) -> Path:
    return owner_dir(data_dir, owner) / check_name(folder)


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except FileNotFoundError:
        return False


def exists(data_dir, owner: str, folder: str) -> bool:
    try:
        return _is_real_dir(folder_path(data_dir, owner, folder))
    except InvitationError:
        return False


def list_folders(data_dir, owner: str) -> list[str]:
    """The owner's folders, sorted (real directories only)."""
    root = owner_dir(data_dir, owner)
    try:
        names = sorted(e.name for e in os.scandir(root) if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []
    return [n for n in names if FOLDER_NAME.match(n)]


def _pass_through(path: Path) -> None:
    """``<data>/folders`` or ``<data>/folders/<owner>``: root's (as root), 0711, never through a link."""
    try:
        safefs.ensure_dir(path, PASS_MODE)
    except (NotADirectoryError, safefs.Refused):
        raise OSError(f"{path} is not a directory") from None
    if os.geteuid() == 0:
        with safefs.beneath(path.parent, path.name) as fd:
            safefs.set_owner(fd, os.fstat(fd), 0, 0)


def create(data_dir, owner: str, folder: str, uid: int | None, gid: int | None) -> Path:
    """Make the owner's folder (owned by their account when there is one, mode 0700).

    Raises FileExistsError when it exists already.
    """
    path = folder_path(data_dir, owner, folder)
    _pass_through(folders_root(data_dir))
    _pass_through(path.parent)
    parent = safefs.open_dir(path.parent)  # root's, 0711: nobody else makes entries there
    try:
        safefs.mkdir_at(parent, path.name)
        if uid is not None:
            os.close(safefs.make_dir(parent, path.name, 0o700, uid, gid if gid is not None else -1))
    finally:
        os.close(parent)
    return path


def grant(path: Path, uid: int | None, permission: str) -> None:
    """Give the invitee's account ``permission`` on the folder (replacing what it had)."""
    if uid is None or not _is_real_dir(path):
        return
    from ..isolation import shared

    with shared.opened(path) as (fd, _st):
        shared.revoke_user(fd, uid)
        shared.grant_user(fd, uid, permission)


def revoke(path: Path, uid: int | None) -> None:
    """Take every grant of the account off the folder."""
    if uid is None or not _is_real_dir(path):
        return
    from ..isolation import shared

    shared.revoke_user(path, uid)


def set_sticky(target, on: bool) -> None:
    """The sticky bit on the folder and every folder in it (never following links): while a ``rw``
    invitee has access, only an entry's owner (and the folder's owner) may delete or rename it.
    ``target``: the folder's path (its parents root's) or a descriptor of it."""
    from ..isolation import shared

    with shared.opened(target) as (fd, st):
        if not stat.S_ISDIR(st.st_mode):
            return
        _sticky_one(fd, st, on)
        top = safefs.reopen_dir(fd)
        try:
            fdtree.walk(top, lambda efd, est, _rel: _sticky_one(efd, est, on), dirs_only=True)
        finally:
            os.close(top)


def _sticky_one(fd: int, st: os.stat_result, on: bool) -> None:
    if not stat.S_ISDIR(st.st_mode):
        return
    mode = stat.S_IMODE(st.st_mode)
    safefs.set_mode(fd, st, mode | stat.S_ISVTX if on else mode & ~stat.S_ISVTX)


# -- what workloads see --------------------------------------------------


@dataclass(frozen=True)
class SharedFolder:
    """An accepted invitation as the invitee's workloads see it: ``~/shared-with-me/<owner>/<folder>``."""

    owner: str
    folder: str
    path: Path
    permission: str


def shared_with(db_url: str, data_dir: str, invitee: str) -> list[SharedFolder]:
    """The folders of others that ``invitee`` accepted and that still exist."""
    out = []
    for inv in records.received(db_url, invitee, ("accepted",)):
        path = folder_path(data_dir, inv.owner, inv.folder)
        if path.is_dir():
            out.append(SharedFolder(inv.owner, inv.folder, path, inv.permission))
    return out
