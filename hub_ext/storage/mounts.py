"""What every workload of a group gets of storage, and putting it into a local workload's home.

``workload_mounts`` says what a workload of ``username`` in ``group`` mounts: the group's
tree, every dataset the group owns or was granted (pins pick versions), the user's own
folders and the folders others shared with them (accepted invitations). Locally
(``apply_local``) these become symbolic links in the account's home::

    ~/shared                         -> <data>/groups/<group>
    ~/datasets/<name>                -> the dataset's folder (or its pinned version)
    ~/my-folders/<folder>            -> <data>/folders/<user>/<folder>
    ~/shared-with-me/<owner>/<folder> -> <data>/folders/<owner>/<folder>

plus ``HUBFRONT_SHARED`` (the group's tree), ``HUBFRONT_DATASETS`` (the folder of dataset
links) and the env datasets' variables. What may be read or written is up to the
filesystem (modes and ACLs), never to the links. On Kubernetes the same list becomes
volumes (``hub_ext.storage.kube``).

The home belongs to the account, which may have put anything there: links are made
and removed relative to directory descriptors opened without following symbolic
links, and what root makes is handed to the account through its own descriptor
(:mod:`hub_ext.isolation.safefs`), so root never acts outside the home, and only links
that point into the data dir are ever removed (stale ones: a dataset no longer
granted, a folder left).
One home serves all of a user's groups: ``~/shared`` and ``~/datasets`` show the group
of the workload started last, while each workload's ``HUBFRONT_SHARED`` names its own
group's tree; a workload that pins dataset versions gets its own folder of dataset
links (``datasets_dir``), so a pin never changes what other workloads see.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..datasets.records import DatasetMount, mounts_for_group
from ..folders import disk as folders_disk
from ..isolation import fdtree, safefs
from ..store import read_scope
from .tree import ensure_group_root, group_root

log = logging.getLogger("hubfront.mounts")
SHARED, DATASETS, MY_FOLDERS, SHARED_WITH_ME = "shared", "datasets", "my-folders", "shared-with-me"


class MountError(OSError):
    """A workload's storage could not be prepared; the message is for the user."""


@dataclass(frozen=True)
class FolderLink:
    owner: str
    folder: str
    path: Path
    permission: str  # "own", or the invitation's "ro" | "rw" | "rwd"


@dataclass(frozen=True)
class Mounts:
    username: str
    group: str
    data_dir: Path
    shared: Path  # the group's tree
    datasets: tuple[DatasetMount, ...] = ()
    my_folders: tuple[FolderLink, ...] = ()
    shared_with_me: tuple[FolderLink, ...] = ()
    pinned: bool = field(default=False)  # some dataset is a pinned version

    @property
    def env(self) -> dict[str, str]:
        """The env datasets' variables."""
        out: dict[str, str] = {}
        for mount in self.datasets:
            out.update(mount.env)
        return out


def workload_mounts(db_url: str, data_dir, username: str, group: str, pins: dict[str, int] | None = None,
                    key: bytes | None = None) -> Mounts:
    """What a workload of ``username`` in ``group`` mounts (nothing is created here).

    LookupError: a pin names a dataset the group may not use or a version that does not exist.
    """
    with read_scope(db_url) as session:
        datasets = mounts_for_group(session, data_dir, group, pins, key=key)
    own, shared = _folders(db_url, data_dir, username) if username else ((), ())  # "": a group's service account
    return Mounts(username, group, Path(data_dir), group_root(data_dir, group), tuple(datasets), own, shared,
                  pinned=any(d.version is not None for d in datasets))


def _folders(db_url: str, data_dir, username: str) -> tuple[tuple[FolderLink, ...], tuple[FolderLink, ...]]:
    """The user's own folders and the accepted folders of others."""
    own = tuple(FolderLink(username, name, folders_disk.folder_path(data_dir, username, name), "own")
                for name in folders_disk.list_folders(data_dir, username))
    shared = tuple(FolderLink(f.owner, f.folder, f.path, f.permission)
                   for f in folders_disk.shared_with(db_url, str(data_dir), username))
    return own, shared


# -- local: links in the home ---------------------------------------------------------

def _open_dir(parent_fd: int, name: str, uid: int | None, gid: int | None) -> int | None:
    """``name`` in ``parent_fd`` as a directory descriptor (made 0700 for the account if missing);
    None when something that is not a directory (a file, a symbolic link) is in the way."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        return os.open(name, flags, dir_fd=parent_fd)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            log.warning("Not linking into %s: it is not a directory", name)
            return None
        raise
    try:  # made here: the account's, through the new folder's own descriptor
        return safefs.make_dir(parent_fd, name, 0o700, -1 if uid is None else uid,
                               -1 if gid is None else gid)
    except (safefs.Refused, NotADirectoryError):
        log.warning("Not linking into %s: it is not a directory", name)
        return None


def _link(dir_fd: int, name: str, target: Path, uid: int | None, gid: int | None) -> bool:
    """``name`` -> ``target`` in ``dir_fd`` (replacing another link); False when a file or folder
    of the user's is in the way (left alone)."""
    try:
        if os.readlink(name, dir_fd=dir_fd) == str(target):
            return True
        fdtree.unlink_at(dir_fd, name)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # not a symbolic link: the user's own
            log.warning("Not linking %s: something of the user's is in the way", name)
            return False
        raise
    try:
        safefs.symlink_at(dir_fd, name, str(target))
    except FileExistsError:
        return False
    if uid is not None:
        safefs.link_owner(dir_fd, name, uid, gid if gid is not None else -1)
    return True


def _prune(dir_fd: int, keep: set[str], data_dir: Path) -> None:
    """Remove links in ``dir_fd`` that point into the data dir and are not in ``keep``."""
    inside = str(data_dir.resolve()) + os.sep, str(data_dir) + os.sep
    for name in os.listdir(dir_fd):
        if name in keep:
            continue
        try:
            if not stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                continue
            if os.readlink(name, dir_fd=dir_fd).startswith(inside):
                fdtree.unlink_at(dir_fd, name)
        except FileNotFoundError:
            continue


def _links(dir_fd: int, wanted: dict[str, Path], data_dir: Path, uid, gid) -> None:
    for name, target in wanted.items():
        _link(dir_fd, name, target, uid, gid)
    _prune(dir_fd, set(wanted), data_dir)


def _subdir(parent_fd: int, name: str, uid, gid, body) -> None:
    fd = _open_dir(parent_fd, name, uid, gid)
    if fd is None:
        return
    try:
        body(fd)
    finally:
        os.close(fd)


def _shared_with_me(fd: int, mounts: Mounts, uid, gid) -> None:
    by_owner: dict[str, dict[str, Path]] = {}
    for f in mounts.shared_with_me:
        by_owner.setdefault(folders_disk.owner_dir(mounts.data_dir, f.owner).name, {})[f.folder] = f.path
    for owner, wanted in by_owner.items():
        _subdir(fd, owner, uid, gid, lambda sub, w=wanted: _links(sub, w, mounts.data_dir, uid, gid))
    for name in os.listdir(fd):  # owners whose folders are all gone: prune, and drop the empty folder
        if name in by_owner:
            continue
        sub = _open_dir_existing(fd, name)
        if sub is None:
            continue
        try:
            _prune(sub, set(), mounts.data_dir)
            empty = not os.listdir(sub)
        finally:
            os.close(sub)
        if empty:
            fdtree.remove_empty_dir(fd, name)


def _open_dir_existing(parent_fd: int, name: str) -> int | None:
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    except OSError:
        return None


def apply_local(mounts: Mounts, home: Path, uid: int | None, gid: int | None,
                datasets_dir: Path | None = None) -> dict[str, str]:
    """Make the links in ``home`` (owned by ``uid``:``gid``; None: the caller's), remove stale
    ones, and return the workload's variables.

    ``datasets_dir`` (inside ``home``): where this workload's dataset links go instead of
    ``~/datasets`` (a workload that pins versions).
    """
    home = Path(home)
    if not home.is_dir():  # in the hub's <data>/homes; the account's from prepare_home on
        safefs.ensure_dir(home, 0o700)
    datasets_at = Path(datasets_dir) if datasets_dir else home / DATASETS
    try:
        rel = datasets_at.relative_to(home)
    except ValueError:
        raise MountError(f"{datasets_at} is not inside the home {home}") from None
    datasets = {d.name: d.path for d in mounts.datasets if d.path is not None}
    home_fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _link(home_fd, SHARED, mounts.shared, uid, gid)
        _nested(home_fd, rel.parts, uid, gid, lambda fd: _links(fd, datasets, mounts.data_dir, uid, gid))
        _folder_links(home_fd, mounts, uid, gid)
    finally:
        os.close(home_fd)
    return {**mounts.env, "HUBFRONT_SHARED": str(mounts.shared), "HUBFRONT_DATASETS": str(datasets_at)}


def relink_folders(db_url: str, data_dir, username: str, home: Path, uid: int | None, gid: int | None) -> None:
    """Only ``~/my-folders`` and ``~/shared-with-me`` again (an invitation accepted, left or revoked, a
    folder made): running workloads see the change at once. Nothing when the home does not exist yet."""
    home = Path(home)
    if not home.is_dir():
        return
    own, shared = _folders(db_url, data_dir, username)
    mounts = Mounts(username, "", Path(data_dir), Path(), my_folders=own, shared_with_me=shared)
    home_fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _folder_links(home_fd, mounts, uid, gid)
    finally:
        os.close(home_fd)


def _folder_links(home_fd: int, mounts: Mounts, uid, gid) -> None:
    _subdir(home_fd, MY_FOLDERS, uid, gid, lambda fd: _links(
        fd, {f.folder: f.path for f in mounts.my_folders}, mounts.data_dir, uid, gid))
    _subdir(home_fd, SHARED_WITH_ME, uid, gid, lambda fd: _shared_with_me(fd, mounts, uid, gid))


def _nested(fd: int, parts: tuple[str, ...], uid, gid, body) -> None:
    if not parts:
        body(fd)
        return
    _subdir(fd, parts[0], uid, gid, lambda sub: _nested(sub, parts[1:], uid, gid, body))


class MountSource:
    """The local workloads' one call (notebooks, jobs, deployment replicas): the group's tree made
    if missing, the mounts worked out and linked into the home; the variables come back."""

    def __init__(self, db_url: str, data_dir, isolation=None, key: bytes | None = None):
        self.db_url, self.data_dir, self.isolation, self.key = db_url, str(data_dir), isolation, key

    def mounts(self, username: str, group: str, pins: dict[str, int] | None = None, local: bool = True) -> Mounts:
        """``local`` False (pods): the group's storage is its claim, no local tree is made."""
        try:
            if local:
                ensure_group_root(self.data_dir, group, self.isolation)
            return workload_mounts(self.db_url, self.data_dir, username, group, pins, key=self.key)
        except LookupError as exc:
            raise MountError(str(exc).strip("'\"")) from None
        except (OSError, ValueError) as exc:
            raise MountError(f"The group's storage could not be prepared: {exc}") from None

    def apply(self, username: str, group: str, home, account=None, pins: dict[str, int] | None = None,
              datasets_dir=None) -> dict[str, str]:
        mounts = self.mounts(username, group, pins)
        uid, gid = (account.uid, account.gid) if account is not None else (None, None)
        try:
            return apply_local(mounts, Path(home), uid, gid, datasets_dir if pins else None)
        except OSError as exc:
            raise MountError(f"Storage links could not be made in the home: {exc}") from None
