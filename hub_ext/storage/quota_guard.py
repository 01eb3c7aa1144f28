"""The storage quota guard: a group's tree turns read-only while the group is over its storage quota
(a process of its own, as root, that the runner starts where workloads run as their own accounts).

Uploads through the API are checked before a byte is written (:mod:`hub_ext.ledger.holds`); a
workload writes into ``~/shared`` directly. The file system has no quota to lean on here: the data dir
is on ext4 mounted without ``prjquota`` (a project quota needs the ``project`` and ``quota`` features
made while unmounted, and XFS is not there), so the guard measures instead, at once:

- its own inotify instance watches every folder of every group tree for writes (``IN_MODIFY``,
  ``IN_CLOSE_WRITE``), files made or moved in and removals; each write's file is ``lstat``-ed and the
  group's :class:`hub_ext.storage.usage.Tally` moves by the difference (the same "used" as
  :func:`hub_ext.storage.usage.used`: apparent size, hard links once, the group's files datasets
  included); a removal, and every ``QuotaGuard.interval``, measures the group again in full (what
  events miss: writes through a hard link kept outside the tree, stores into a mapping);
- over the quota, the group's tree is locked: the immutable flag (:mod:`hub_ext.isolation.fsflags`)
  on the files just written first, then on every folder and file. A workload's next ``write`` to an
  open file, and any create, rename, link or removal in the tree, fails with EPERM ("Operation not
  permitted"); its owner cannot clear the flag. Shared Files and the files API say why
  (:func:`reason`), and a member deletes there (the hub clears the flag on what it removes);
- back under the quota (files deleted on Shared Files, or the quota raised: read again every
  ``interval``), the flags are cleared.

The margin, what lands past the quota before the lock: the ``write`` call in progress (the flag is
checked once per call, so one call completes whole) plus what the workload writes while the guard
reacts (reading the event, one ``lstat``, a few ``open``/``ioctl``: well under a millisecond idle, a
scheduler slice or more with every core busy). Hence a process of its own at the lowest real-time
priority (``SCHED_RR`` 1; ``nice -10`` where real-time is refused), its full measurements in another
process at the ordinary priority: inside the runner a job's 40 MiB went 17 MiB past a 20 MiB quota,
niced and measuring in a thread up to 20 MiB with four busy loops on two cores; now 1-4 MiB there.
Measured on a 2-core machine writing with ``dd``: 0.06 MiB with 4 KiB writes, 2 MiB with 1 MiB
writes, 4 MiB with 8 MiB writes; up to 12 MiB with 64 KiB writes and both cores busy (the test
allows 16 MiB). A single huge call (``fallocate -l 100G``, one multi-gigabyte ``write``) is not cut.
Files moved in from a member's home on the same file system count at once, and lock the tree, but
they are already on the disk. On Kubernetes the size of the group's volume is the hard limit.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import multiprocessing
import os
import select
import stat
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from inotify_simple import INotify, flags
from traitlets import Float
from traitlets.config import Configurable

from ..isolation import fdtree, fsflags, safefs
from ..policy import format_memory
from . import usage
from .tree import GROUPS, ensure_parent, group_root

log = logging.getLogger("hubfront.storage")
WATCHED = (flags.MODIFY | flags.CLOSE_WRITE | flags.CREATE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE
           | flags.DONT_FOLLOW | flags.ONLYDIR | flags.EXCL_UNLINK)
GROWN = flags.MODIFY | flags.CLOSE_WRITE | flags.CREATE | flags.MOVED_TO
SETTLE = 0.3  # seconds after a removal before measuring again (a whole folder removed is one measurement)


def reason(used: int, limit: int) -> str:
    """What Shared Files and the files API say while the group's tree is locked."""
    return (f"Storage over quota: used {format_memory(used)} of {format_memory(limit)};"
            " the group's storage is read-only until files are deleted")


def read_only(data_dir, group: str) -> bool:
    """Whether the guard has locked ``group``'s tree (its root carries the immutable flag)."""
    return fsflags.path_is_immutable(Path(data_dir) / GROUPS, group)


def measure(data_dir, db_url: str | None, group: str) -> dict:
    """The size of every file the group uses, by inode (:func:`usage.walk`: its tree and files datasets)."""
    sizes: dict = {}
    usage.walk(group_root(data_dir, group), *usage.dataset_roots(db_url, data_dir, group), sizes=sizes)
    return sizes


def _ordinary() -> None:
    """The measuring process: the ordinary scheduling class and priority again (it walks whole trees)."""
    try:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except OSError:
        pass


class Guard:
    """The watching and locking, in a process of its own (:func:`main`): the runner's event loop and its
    threads never delay a lock (module doc: the margin)."""

    def __init__(self, data_dir, db_url: str | None = None):
        self.data, self.db_url = Path(data_dir), db_url
        self.groups_dir = self.data / GROUPS
        self.inotify = INotify()
        self.watches: dict[int, tuple[str, tuple[str, ...]]] = {}  # wd -> (group, folder under its root)
        self.limits: dict[str, int | None] | None = None  # None until the hub answered once
        self.tallies: dict[str, usage.Tally] = {}
        self.locked: set[str] = set()
        self.unsupported: set[str] = set()  # groups on a file system without file flags
        self.due: dict[str, float] = {}  # group -> when to measure it again
        self.measuring: dict[str, tuple[int, Future]] = {}  # group -> (its generation then, the measurement)
        self.generation: dict[str, int] = {}  # bumped by each measurement taken
        self.touched: dict[str, dict] = {}  # group -> sizes seen while its measurement runs
        # full measurements in a process of their own, at the normal priority: the events' thread never waits
        # for an interpreter lock a walk holds
        self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=_ordinary)
        self._full = False

    # -- watches -------------------------------------------------------------------------

    def _watch(self, group: str, parts: tuple[str, ...], fd: int) -> None:
        """Watch the folder ``parts`` of ``group``'s tree through ``fd``, its descriptor (never a link)."""
        try:
            wd = self.inotify.add_watch(f"/proc/self/fd/{fd}", WATCHED & ~flags.DONT_FOLLOW)
        except OSError as exc:
            if not self._full:
                log.warning("Storage quota: cannot watch %s/%s (%s); raise fs.inotify.max_user_watches",
                            group, "/".join(parts), exc)
                self._full = True
            return
        self.watches[wd] = (group, parts)

    def _watch_tree(self, group: str, parts: tuple[str, ...] = ()) -> None:
        """The folder ``parts`` and every folder in it, walked by descriptors."""
        def visit(fd: int, st: os.stat_result, rel: str) -> None:
            if stat.S_ISDIR(st.st_mode):
                self._watch(group, (*parts, *rel.split("/")), fd)

        try:
            with safefs.beneath(group_root(self.data, group), "/".join(parts), safefs.DIR_FLAGS) as fd:
                self._watch(group, parts, fd)
                fdtree.walk(fd, visit, dirs_only=True)
        except (FileNotFoundError, NotADirectoryError, safefs.Refused):
            return

    def _groups(self) -> list[str]:
        try:
            return [e.name for e in os.scandir(self.groups_dir) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []

    def start(self) -> None:
        """Watch every group tree; note which ones a previous runner left locked; measure them all."""
        ensure_parent(self.groups_dir)
        self.top = self.inotify.add_watch(str(self.groups_dir), flags.CREATE | flags.MOVED_TO | flags.ONLYDIR)
        for group in self._groups():
            self._add_group(group)

    def _add_group(self, group: str, now: bool = True) -> None:
        """Watch a group's tree; measure it ``now`` (a new tree is small: its first writes count at once)."""
        self._watch_tree(group)
        if read_only(self.data, group):
            self.locked.add(group)
        if now:
            sizes = self.measure(group)
            self.tallies.setdefault(group, usage.Tally()).reset(sum(sizes.values()), sizes)
            self.generation[group] = self.generation.get(group, 0) + 1
        else:
            self.due[group] = 0.0

    # -- the guard's process ----------------------------------------------------------------

    def serve(self, control: int) -> None:
        """Watch and enforce until ``control`` (the runner's pipe: one JSON line of quotas at a time) ends."""
        self.start()
        log.info("Storage quota: watching %d folders", len(self.watches))
        fd, pending = self.inotify.fileno(), b""
        try:
            while True:
                ready, _, _ = select.select([fd, control], [], [], 0.1)
                try:
                    if fd in ready:
                        self.handle(self.inotify.read(timeout=0))
                    if control in ready:
                        chunk = os.read(control, 1 << 16)
                        if not chunk:
                            return  # the runner stopped (or died)
                        *lines, pending = (pending + chunk).split(b"\n")
                        for line in lines[-1:]:
                            self.set_limits(json.loads(line)["limits"])
                    self.measurements()
                except Exception:  # one bad pass must not end the guard
                    log.exception("Storage quota: pass failed")
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.inotify.close()

    def handle(self, events) -> None:
        grown: dict[str, list[tuple[str, ...]]] = {}
        removed: set[str] = set()
        for event in events:
            if event.mask & flags.Q_OVERFLOW:
                for group in self._groups():
                    self._add_group(group, now=False)
                continue
            if event.wd == self.top:
                if event.name and event.mask & flags.ISDIR:
                    self._add_group(event.name)
                continue
            if event.mask & flags.IGNORED:
                self.watches.pop(event.wd, None)
                continue
            where = self.watches.get(event.wd)
            if where is None or not event.name:
                continue
            group, parts = where
            if event.mask & (flags.DELETE | flags.MOVED_FROM):
                if group in self.locked:  # the hub deleted (nothing else can): measured at the batch's end
                    removed.add(group)
                else:
                    self.due.setdefault(group, time.monotonic() + SETTLE)
            elif event.mask & flags.ISDIR:
                if event.mask & (flags.CREATE | flags.MOVED_TO):
                    self._watch_tree(group, (*parts, event.name))
                    self.due.setdefault(group, time.monotonic() + SETTLE)  # what it holds
                    grown.setdefault(group, []).append((*parts, event.name))
            elif event.mask & GROWN:
                self._saw(group, parts, event.name)
                grown.setdefault(group, []).append((*parts, event.name))
        for group in removed:  # writable again at once when back under (before any new file counts)
            self._measured(group, self.measure(group))
        for group, hot in grown.items():
            self.enforce(group, hot)

    def _saw(self, group: str, parts: tuple[str, ...], name: str) -> None:
        tally = self.tallies.get(group)
        if tally is None:
            return  # not measured yet: its first measurement counts it
        try:
            st = os.lstat(group_root(self.data, group).joinpath(*parts, name))
        except OSError:
            return
        if stat.S_ISREG(st.st_mode):
            tally.saw(st)
            if group in self.touched:  # a measurement is running: this size is newer than what it may see
                self.touched[group][(st.st_dev, st.st_ino)] = st.st_size

    # -- measuring -----------------------------------------------------------------------

    def measurements(self) -> None:
        """Start the measurements due (one at a time, in the pool's thread); take the finished ones. A
        measurement is a snapshot: the writes seen while it ran are laid over it, and one overtaken by
        a measurement made here meanwhile (after a deletion) is dropped."""
        now = time.monotonic()
        for group, when in list(self.due.items()):
            if when <= now and group not in self.measuring:
                del self.due[group]
                self.touched[group] = {}
                future = self.pool.submit(measure, self.data, self.db_url, group)
                self.measuring[group] = (self.generation.get(group, 0), future)
        for group, (generation, future) in list(self.measuring.items()):
            if future.done():
                del self.measuring[group]
                touched = self.touched.pop(group, {})
                try:
                    sizes = future.result()
                except Exception as exc:
                    log.warning("Storage quota: measuring %s failed: %s", group, exc)
                    continue
                if generation == self.generation.get(group, 0):
                    sizes.update(touched)
                    self._measured(group, sizes)

    def _measured(self, group: str, sizes: dict) -> None:
        """A fresh measurement (``sizes`` by inode, as :func:`usage.walk` fills it: their sum is the use)."""
        self.generation[group] = self.generation.get(group, 0) + 1
        self.tallies.setdefault(group, usage.Tally()).reset(sum(sizes.values()), sizes)
        self.enforce(group, (), again=True)

    def measure(self, group: str) -> dict:
        return measure(self.data, self.db_url, group)

    def set_limits(self, limits: dict[str, int | None]) -> None:
        """The groups' storage quotas (bytes, None: unlimited), read from the hub; every group is measured again."""
        self.limits = dict(limits)
        for group in self._groups():
            self.due.setdefault(group, 0.0)

    # -- locking -------------------------------------------------------------------------

    def enforce(self, group: str, hot, again: bool = False) -> None:
        """Lock ``group``'s tree when over its quota (``hot``, the entries just written, first), unlock it
        when back under; ``again``: a fresh measurement, so a locked tree is locked whole again (the hub
        cleared flags to delete)."""
        tally = self.tallies.get(group)
        if tally is None or self.limits is None or group in self.unsupported:
            return
        limit = self.limits.get(group)
        over = limit is not None and tally.total > limit
        try:
            if over:
                self._lock_entries(group, hot)  # the files being written stop first
                if group not in self.locked or again:
                    self._set_tree(group, True)
                if group not in self.locked:
                    log.warning("Storage quota: %s (group %s)", reason(tally.total, limit), group)
                self.locked.add(group)
            elif group in self.locked:
                self._set_tree(group, False)
                self.locked.discard(group)
                log.info("Storage quota: group %s is back under its quota; its storage is writable", group)
        except OSError as exc:
            if exc.errno in (errno.ENOTTY, errno.EOPNOTSUPP, errno.EINVAL):
                self.unsupported.add(group)  # said once: a file system without file flags is never locked
            log.warning("Storage quota: cannot %s group %s's storage: %s", "lock" if over else "unlock", group, exc)

    def _lock_entries(self, group: str, hot) -> None:
        """The immutable flag on each entry (``parts`` under the group's root; a folder whole) and, once
        the tree is locked, on its folder (one the hub cleared to delete in)."""
        root = group_root(self.data, group)
        for parts in hot:
            fsflags.set_path(root, "/".join(parts), True, tree=True)
            if group in self.locked:
                fsflags.set_path(root, "/".join(parts[:-1]), True)

    def _set_tree(self, group: str, on: bool) -> None:
        fsflags.set_path(self.groups_dir, group, on, tree=True)


# -- the runner's side ---------------------------------------------------------------------------


class QuotaGuard(Configurable):
    interval = Float(30.0, config=True, help="""Seconds between full measurements of each group's storage
        and readings of the groups' storage quotas. Writes are seen at once (inotify); the full measurement
        catches what events miss, and a raised quota unlocks a group's storage within this time.""")

    def __init__(self, data_dir, db_url: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.data, self.db_url = str(data_dir), db_url or ""

    async def _spawn(self):
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", __name__, self.data, stdin=asyncio.subprocess.PIPE,
            env={**os.environ, "HUBFRONT_QUOTA_DB": self.db_url})  # not in argv: /proc shows that to all

    async def run(self, stop: asyncio.Event, groups) -> None:
        """Keep the guard's process running until ``stop``, handing it the quotas (``groups``: the runner's
        ``HubAPI.groups``) every :attr:`interval`; it ends when its pipe closes, the runner's death included."""
        proc = await self._spawn()
        try:
            while not stop.is_set():
                if proc.returncode is not None:
                    log.warning("Storage quota: the guard exited (%s); starting it again", proc.returncode)
                    proc = await self._spawn()
                try:
                    limits = {name: p.quota.storage for name, p in (await groups()).policies.items()}
                    proc.stdin.write(json.dumps({"limits": limits}).encode() + b"\n")
                    await proc.stdin.drain()
                except (ConnectionError, BrokenPipeError):
                    continue
                except Exception as exc:
                    log.warning("Storage quota: cannot read the groups' quotas: %s", exc)
                try:
                    await asyncio.wait_for(stop.wait(), self.interval)
                except asyncio.TimeoutError:
                    pass
        finally:
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()


async def guard_storage(data_dir, db_url: str, isolation, groups, stop: asyncio.Event, config=None) -> None:
    """The runner's background task (only where workloads run as their own accounts)."""
    if isolation is None or not isolation.enabled:
        return
    await QuotaGuard(data_dir, db_url, config=config).run(stop, groups)


def main(argv: list[str]) -> None:
    """``python -m hub_ext.storage.quota_guard <data dir>``: the guard's process (the runner starts it)."""
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s quota-guard] %(message)s")
    try:  # it mostly sleeps; woken by a write, it must run before the writer writes much more
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))  # the lowest real-time priority
    except OSError:  # no real-time scheduling in this cgroup: the highest ordinary priority but one
        os.nice(-10)
    Guard(argv[1], os.environ.get("HUBFRONT_QUOTA_DB") or None).serve(sys.stdin.fileno())


if __name__ == "__main__":
    main(sys.argv)
