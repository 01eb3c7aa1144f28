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

from ..isolation import shared
from .tree import GROUPS

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

    def watch(self, directory: Path) -> None:
        try:
            wd = self.inotify.add_watch(str(directory), WATCHED)
        except OSError as exc:
            if not self._full:
                log.warning("Storage permissions: cannot watch %s (%s); raise fs.inotify.max_user_watches",
                            directory, exc)
                self._full = True
            return
        self.paths[wd] = directory

    def watch_tree(self, top: Path) -> None:
        for root, dirs, _files in os.walk(top, followlinks=False):
            self.watch(Path(root))
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]

    def start(self) -> None:
        """Watch the areas and every tree in them; adopt what is there."""
        for area in (self.data / GROUPS, self.data / FOLDERS):
            area.mkdir(mode=0o711, exist_ok=True)
            self.watch(area)
        for tree in self._group_trees():
            self.watch_tree(tree)
            self._adopt(tree)
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
        for event in events:
            if event.mask & flags.IGNORED:
                self.paths.pop(event.wd, None)
                continue
            parent = self.paths.get(event.wd)
            if parent is None or not event.name:
                continue
            try:
                self.arrived(parent / event.name, bool(event.mask & flags.ISDIR))
            except FileNotFoundError:
                continue  # gone again already
            except OSError as exc:
                log.warning("Storage permissions: %s not adopted: %s", parent / event.name, exc)

    def arrived(self, path: Path, is_dir: bool) -> None:
        """``path`` was made or moved in: watch it (a folder) and make it shared like its tree."""
        rel = path.relative_to(self.data).parts
        if is_dir and not stat.S_ISLNK(os.lstat(path).st_mode):
            self.watch_tree(path)
        if rel[0] == GROUPS and len(rel) >= 3:
            self._adopt(path, gid=os.stat(self.data / GROUPS / rel[1]).st_gid)
        elif rel[0] == FOLDERS and len(rel) >= 4:
            self._regrant(path, rel[1], rel[2])

    def _adopt(self, path: Path, gid: int | None = None) -> None:
        if gid is None:  # a whole tree: its own group
            gid = os.stat(path).st_gid
        shared.adopt(path, gid)

    def _regrant(self, path: Path, owner_dir: str, folder: str) -> None:
        from urllib.parse import unquote

        from ..folders import disk, records

        owner = unquote(owner_dir)
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            return
        if stat.S_ISDIR(st.st_mode) and os.stat(path.parent).st_mode & stat.S_ISVTX:
            disk.set_sticky(path, True)
        for inv in records.sent(self.db_url, owner, folder):
            if inv.state == "accepted" and self.isolation is not None:
                uid = self.isolation.uid_of(inv.invitee)
                if uid is not None:
                    shared.grant_user(path, uid, inv.permission)

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
