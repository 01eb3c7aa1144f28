"""The permission keeper: what a member moves into shared storage becomes shared (runs in the runner, as root).

A file made in a group's tree gets the group and group rw from the setgid bit and the
default ACL; one *moved* in (``mv ~/results.csv ~/shared/``) keeps its old group and mode
0600, and one made with mode 0600 (``open(..., 0o600)``) keeps the group out through the
ACL mask. TLJH's shared folders break exactly there. The keeper watches every group tree
and every user's shared folder with inotify (recursively, new folders included) and, on
each entry created or moved in:

- in ``<data>/groups/<group>/``: ``hub_ext.isolation.shared.adopt`` (the tree's group,
  group rw, folders setgid), so every member can read and write it;
- in ``<data>/folders/<owner>/<folder>/``: the folder's accepted invitations are applied to
  it again (``grant_user``), and a new folder inside a sticky one is made sticky too.

Members can swap any entry for a link at any moment (and do, to make root chmod a secret):
the entry is opened from its tree's top without following links, and only that descriptor is
changed (:mod:`hub_ext.isolation.safefs`); links, other accounts' hard links and root's own
files are left alone, and set-user-ID never survives adoption.

At start every tree is adopted once (what was moved in while the runner was down).
Without isolation (no Unix groups) there is nothing to keep and it does not run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path

from inotify_simple import INotify, flags

from ..isolation import fdtree, safefs, shared
from .tree import GROUPS, ensure_parent

log = logging.getLogger("hubfront.storage")
WATCHED = flags.CREATE | flags.MOVED_TO | flags.DONT_FOLLOW | flags.ONLYDIR | flags.EXCL_UNLINK
FOLDERS = "folders"


class PermissionKeeper:
    def __init__(self, data_dir, db_url: str, isolation=None):
        self.data = Path(data_dir)
        self.db_url = db_url
        self.isolation = isolation
        self.inotify = INotify()
        self.paths: dict[int, Path] = {}  # watch descriptor -> directory
        self._full = False
        self.started = False  # watching, and the first sweep is done

    # -- watches ---------------------------------------------------------------

    def watch(self, directory: Path, fd: int | None = None) -> None:
        """Watch ``directory`` (through ``fd``, its descriptor opened without following links, when given)."""
        try:
            wd = self.inotify.add_watch(f"/proc/self/fd/{fd}" if fd is not None else str(directory), WATCHED
                                        if fd is None else WATCHED & ~flags.DONT_FOLLOW)
        except OSError as exc:
            if not self._full:
                log.warning("Storage permissions: cannot watch %s (%s); raise fs.inotify.max_user_watches",
                            directory, exc)
                self._full = True
            return
        self.paths[wd] = directory

    def watch_tree(self, top: Path, fd: int | None = None) -> None:
        """``top`` and every folder in it, walked by descriptors (a link is never followed)."""
        own = fd is None
        if own:
            fd = safefs.open_dir(top)
        try:
            self.watch(top, fd)
            fdtree.walk(fd, lambda efd, st, rel: self.watch(top / rel, efd) if stat.S_ISDIR(st.st_mode) else None,
                        dirs_only=True)
        finally:
            if own:
                os.close(fd)

    def start(self) -> None:
        """Watch the areas and every tree in them; adopt what is there."""
        for area in (self.data / GROUPS, self.data / FOLDERS):
            ensure_parent(area)
            self.watch(area)
        self.sweep()
        for owner in self._dirs(self.data / FOLDERS):
            self.watch(owner)
            for folder in self._dirs(owner):
                self.watch_tree(folder)
        self.started = True

    @staticmethod
    def _dirs(parent: Path) -> list[Path]:
        try:
            return [Path(e.path) for e in os.scandir(parent) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []

    def _group_trees(self) -> list[Path]:
        return self._dirs(self.data / GROUPS)

    # -- events ----------------------------------------------------------------

    def handle(self, events) -> None:
        """One batch of events: each path once (a member swapping names in a loop makes thousands);
        after a queue overflow (events lost) every group tree is adopted again."""
        arrived: dict[Path, bool] = {}
        for event in events:
            if event.mask & flags.Q_OVERFLOW:
                log.warning("Storage permissions: inotify queue overflowed; adopting every group tree again")
                self.sweep()
                continue
            if event.mask & flags.IGNORED:
                self.paths.pop(event.wd, None)
                continue
            parent = self.paths.get(event.wd)
            if parent is None or not event.name:
                continue
            arrived[parent / event.name] = bool(event.mask & flags.ISDIR)
        for path, is_dir in arrived.items():
            try:
                self.arrived(path, is_dir)
            except (FileNotFoundError, NotADirectoryError, safefs.Refused):
                continue  # gone again already, or a link put in the way: nothing to adopt there
            except OSError as exc:
                log.warning("Storage permissions: %s not adopted: %s", path, exc)

    def sweep(self) -> None:
        """Every group tree watched and adopted again (what arrived while events were lost)."""
        for tree in self._group_trees():
            try:
                self.watch_tree(tree)
                self._adopt(tree)
            except OSError as exc:
                log.warning("Storage permissions: %s not adopted: %s", tree, exc)

    def arrived(self, path: Path, is_dir: bool) -> None:
        """``path`` was made or moved in: watch it (a folder) and make it shared like its tree.

        A member may swap ``path`` (or any folder above it in the tree) for a link at any moment:
        it is opened from the tree's top without following links, and only that descriptor is acted on.
        """
        rel = path.relative_to(self.data).parts
        if rel[0] == GROUPS and len(rel) >= 3:
            top, inner = self.data / GROUPS / rel[1], rel[2:]
        elif rel[0] == FOLDERS and len(rel) >= 4:
            top, inner = self.data / FOLDERS / rel[1] / rel[2], rel[3:]
        else:
            return
        with safefs.beneath(top, "/".join(inner[:-1]), safefs.DIR_FLAGS) as parent:
            fd, st = safefs.entry(parent, inner[-1])
            try:
                if stat.S_ISLNK(st.st_mode):
                    return
                if stat.S_ISDIR(st.st_mode):
                    self.watch_tree(path, fd)
                if rel[0] == GROUPS:
                    with shared.opened(top) as (_, top_st):
                        shared.adopt(fd, top_st.st_gid)
                else:
                    self._regrant(fd, st, os.fstat(parent), rel[1], rel[2])
            finally:
                os.close(fd)

    def _adopt(self, tree: Path) -> None:
        """A whole tree: its own group."""
        with shared.opened(tree) as (fd, st):
            shared.adopt(fd, st.st_gid)

    def _regrant(self, fd: int, st: os.stat_result, parent_st: os.stat_result, owner_dir: str, folder: str) -> None:
        from urllib.parse import unquote

        from ..folders import disk, records

        owner = unquote(owner_dir)
        if stat.S_ISDIR(st.st_mode) and parent_st.st_mode & stat.S_ISVTX:
            disk.set_sticky(fd, True)
        for inv in records.sent(self.db_url, owner, folder):
            if inv.state == "accepted" and self.isolation is not None:
                uid = self.isolation.uid_of(inv.invitee)
                if uid is not None:
                    shared.grant_user(fd, uid, inv.permission)

    # -- the loop --------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(self.start)
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop.add_reader(self.inotify.fileno(), ready.set)
        log.info("Storage permissions: watching %d folders", len(self.paths))
        try:
            while not stop.is_set():
                await ready.wait()
                ready.clear()
                events = self.inotify.read(timeout=0)
                await asyncio.to_thread(self.handle, events)
        finally:
            loop.remove_reader(self.inotify.fileno())
            self.inotify.close()


async def keep_permissions(data_dir, db_url: str, isolation, stop: asyncio.Event) -> None:
    """The runner's background task (only where workloads run as their own accounts)."""
    if isolation is None or not isolation.enabled:
        return
    await PermissionKeeper(data_dir, db_url, isolation).run(stop)
