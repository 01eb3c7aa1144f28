"""Cgroups for local workloads: one per workload, holding the instance type's limits.

cgroup v2 where the host has it (one unified tree), v1 otherwise (one tree per
controller: memory, cpu, cpuacct, pids, devices). What each version enforces:

- memory: v1 ``memory.limit_in_bytes`` with ``memory.memsw.limit_in_bytes`` set
  to the same value (swap is not extra memory); v2 ``memory.max`` with
  ``memory.swap.max = 0``. An out-of-memory kill is counted by the kernel
  (``oom_kill`` in ``memory.oom_control`` / ``memory.events``); v2 also kills
  the whole workload at once (``memory.oom.group``), on v1 the spawner does it.
- CPU: a CFS quota of the instance type's cores per 100 ms period.
- processes: ``pids.max``.
- GPUs: v1's devices controller denies the device nodes of GPUs that were not
  granted. v2 has no devices file (it needs an eBPF program, which this module
  does not load): there, confinement is ``CUDA_VISIBLE_DEVICES`` only.

No JupyterHub here; the spawner (and later the runner's executor) uses it.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .cgroup_warmth import Warmth

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "devices")
V2_CONTROLLERS = ("memory", "cpu", "pids")
CFS_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    memory: int | None = None  # bytes
    cpu: float | None = None  # cores
    pids: int | None = None
    deny_devices: tuple[str, ...] = ()  # devices-cgroup rules such as "c 195:3 rwm"


@dataclass(frozen=True)
class Stats:
    """One reading of a workload's counters; CPU use is the difference of two (``cpu_cores``)."""

    at: float  # time.monotonic() of the reading
    cpu_ns: int | None  # CPU time used since the workload started
    memory: int | None  # bytes held now
    memory_limit: int | None  # bytes; None: no limit

    def cpu_cores(self, earlier: "Stats") -> float | None:
        """Cores used on average between ``earlier`` and this reading (0.5: half a core)."""
        if self.cpu_ns is None or earlier.cpu_ns is None or self.at <= earlier.at:
            return None
        return max(0, self.cpu_ns - earlier.cpu_ns) / ((self.at - earlier.at) * 1e9)


def device_rules(granted: Iterable[int], inventory: Iterable[int], node_for: Callable[[int], str]) -> tuple[str, ...]:
    """Deny rules for every GPU of ``inventory`` that was not granted and whose device node exists."""
    allowed = set(granted)
    rules = []
    for index in inventory:
        if index in allowed:
            continue
        try:
            st = os.stat(node_for(index))
        except OSError:
            continue
        if stat.S_ISCHR(st.st_mode):
            rules.append(f"c {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} rwm")
    return tuple(rules)


def _write(path: Path, value) -> None:
    path.write_text(f"{value}\n")


def _read_key(path: Path, key: str) -> int:
    """The integer after ``key`` in a flat-keyed cgroup file (0 when missing)."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


class Cgroup:
    """One workload's cgroup: one directory (v2) or one per controller (v1)."""

    def __init__(self, name: str, dirs: dict[str, Path], version: int):
        self.name = name
        self.dirs = dirs
        self.version = version

    def _dir(self, controller: str) -> Path | None:
        return self.dirs.get(controller)

    @property
    def paths(self) -> list[Path]:
        return list(dict.fromkeys(self.dirs.values()))

    def attach(self, pid: int = 0) -> None:
        """Move process ``pid`` (0: the caller) into the cgroup, in every tree.

        Called in the workload's child process before it drops root, so
        everything it forks is counted from its first instruction.
        """
        pid = pid or os.getpid()
        for path in self.paths:
            _write(path / "cgroup.procs", pid)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self.paths:
            try:
                found.update(int(p) for p in (path / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                continue
        return sorted(found)

    def oom_kills(self) -> int:
        """How many processes the kernel killed for exceeding the memory limit."""
        mem = self._dir("memory")
        if mem is None:
            return 0
        if self.version == 2:
            return _read_key(mem / "memory.events", "oom_kill")
        return _read_key(mem / "memory.oom_control", "oom_kill")

    def cpu_usage_ns(self) -> int | None:
        """CPU time used by the workload so far (the cgroup's own counter)."""
        try:
            if self.version == 2:
                return _read_key(self.dirs["cpu"] / "cpu.stat", "usage_usec") * 1000
            return int((self.dirs["cpuacct"] / "cpuacct.usage").read_text())
        except (KeyError, OSError, ValueError):
            return None

    def memory_usage(self) -> int | None:
        """Memory the workload holds now, page cache included (the cgroup's own counter)."""
        mem = self._dir("memory")
        if mem is None:
            return None
        try:
            return int((mem / ("memory.current" if self.version == 2 else "memory.usage_in_bytes")).read_text())
        except (OSError, ValueError):
            return None

    def stats(self) -> "Stats":
        """What the workload uses now: read only, from the kernel's counters (System Resources shows it)."""
        return Stats(at=time.monotonic(), cpu_ns=self.cpu_usage_ns(), memory=self.memory_usage(),
                     memory_limit=self.memory_limit())

    def memory_limit(self) -> int | None:
        mem = self._dir("memory")
        if mem is None:
            return None
        try:
            raw = (mem / ("memory.max" if self.version == 2 else "memory.limit_in_bytes")).read_text().strip()
        except OSError:
            return None
        return None if raw == "max" else int(raw)

    def kill(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the workload (including ones forked meanwhile)."""
        kill_file = self.dirs.get("memory", next(iter(self.dirs.values()))) / "cgroup.kill"
        if self.version == 2 and kill_file.exists():
            _write(kill_file, 1)
        deadline = time.monotonic() + timeout
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def remove(self, timeout: float = 5.0) -> bool:
        """Kill what is left and remove the cgroup; False when a directory would not go."""
        self.kill(timeout)
        gone = True
        for path in self.paths:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        gone = False
                        break
                    time.sleep(0.02)
            else:
                gone = False
        return gone


class Hierarchy:
    """Where this hub's workload cgroups live: ``<mount>/<root>/<workload>``, per tree."""

    def __init__(self, version: int, mounts: dict[str, Path], root: str):
        self.version = version
        self.mounts = mounts  # controller -> mount point (v2: the same one for all)
        self.root = root.strip("/")
        self._warmth: Warmth | None = None

    def joins_kept_fast(self):
        """A block during which a process joins its cgroup without waiting (:mod:`.cgroup_warmth`)."""
        if self._warmth is None:
            self._warmth = Warmth(self.version, next(iter(self.mounts.values())))
        return self._warmth.kept()

    @property
    def controllers(self) -> list[str]:
        return list(self.mounts)

    def describe(self) -> str:
        return f"cgroup v{self.version} ({', '.join(self.controllers)})"

    def _dirs(self, name: str) -> dict[str, Path]:
        return {c: m / self.root / name for c, m in self.mounts.items()}

    def prepare(self) -> None:
        """Create the hub's subtree (v2: with the controllers enabled for children)."""
        for mount in dict.fromkeys(self.mounts.values()):
            (mount / self.root).mkdir(parents=True, exist_ok=True)
            if self.version == 2:
                enable = " ".join(f"+{c}" for c in self.controllers)
                path = mount
                for part in ("", *Path(self.root).parts):
                    path = path / part if part else path
                    try:
                        _write(path / "cgroup.subtree_control", enable)
                    except OSError:
                        if path != mount:
                            raise

    def existing(self, name: str) -> Cgroup | None:
        dirs = {c: d for c, d in self._dirs(name).items() if d.is_dir()}
        return Cgroup(name, dirs, self.version) if dirs else None

    def names(self) -> list[str]:
        found: set[str] = set()
        for mount in dict.fromkeys(self.mounts.values()):
            base = mount / self.root
            if base.is_dir():
                found.update(p.name for p in base.iterdir() if p.is_dir())
        return sorted(found)

    def create(self, name: str, limits: Limits) -> Cgroup:
        stale = self.existing(name)
        if stale is not None:
            stale.remove()
        self.prepare()
        dirs = self._dirs(name)
        for path in dict.fromkeys(dirs.values()):
            path.mkdir()
        group = Cgroup(name, dirs, self.version)
        try:
            (self._apply_v2 if self.version == 2 else self._apply_v1)(group, limits)
        except BaseException:
            group.remove()
            raise
        return group

    @staticmethod
    def _apply_v1(group: Cgroup, limits: Limits) -> None:
        d = group.dirs
        if "memory" in d and limits.memory:
            _write(d["memory"] / "memory.limit_in_bytes", limits.memory)
            memsw = d["memory"] / "memory.memsw.limit_in_bytes"
            if memsw.exists():  # only where the kernel accounts swap
                _write(memsw, limits.memory)
        if "cpu" in d and limits.cpu:
            _write(d["cpu"] / "cpu.cfs_period_us", CFS_PERIOD_US)
            _write(d["cpu"] / "cpu.cfs_quota_us", max(1000, int(limits.cpu * CFS_PERIOD_US)))
        if "pids" in d and limits.pids:
            _write(d["pids"] / "pids.max", limits.pids)
        if "devices" in d:
            for rule in limits.deny_devices:
                _write(d["devices"] / "devices.deny", rule)

    @staticmethod
    def _apply_v2(group: Cgroup, limits: Limits) -> None:
        path = next(iter(group.dirs.values()))
        if limits.memory:
            _write(path / "memory.max", limits.memory)
            _write(path / "memory.swap.max", 0)
            _write(path / "memory.oom.group", 1)
        if limits.cpu:
            _write(path / "cpu.max", f"{max(1000, int(limits.cpu * CFS_PERIOD_US))} {CFS_PERIOD_US}")
        if limits.pids:
            _write(path / "pids.max", limits.pids)


def parse_mounts(text: str) -> tuple[Path | None, dict[str, Path]]:
    """(the cgroup2 mount, {v1 controller: mount}) from /proc/self/mounts."""
    unified, v1 = None, {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        fstype, mount, options = parts[2], Path(parts[1]), parts[3].split(",")
        if fstype == "cgroup2" and unified is None:
            unified = mount
        elif fstype == "cgroup":
            for controller in V1_CONTROLLERS:
                if controller in options:
                    v1.setdefault(controller, mount)
    return unified, v1


def detect(root: str, mounts_text: str | None = None) -> tuple[Hierarchy | None, str]:
    """The writable cgroup hierarchy to use, or None and the reason there is none."""
    if mounts_text is None:
        try:
            mounts_text = Path("/proc/self/mounts").read_text()
        except OSError as exc:
            return None, f"cannot read the mount table ({exc})"
    unified, v1 = parse_mounts(mounts_text)
    hierarchy = None
    if unified is not None:
        try:
            available = (unified / "cgroup.controllers").read_text().split()
        except OSError:
            available = []
        wanted = [c for c in V2_CONTROLLERS if c in available]
        if "memory" in wanted:
            hierarchy = Hierarchy(2, {c: unified for c in wanted}, root)
    if hierarchy is not None:
        try:
            hierarchy.prepare()
        except OSError as exc:
            return None, f"cannot create {root!r} in the cgroup v2 tree ({exc.strerror or exc})"
        return hierarchy, ""
    usable = {}
    for controller, mount in v1.items():  # v1: use every controller this process may write
        try:
            (mount / root.strip("/")).mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        usable[controller] = mount
    if not usable:
        return None, "no writable cgroup controller" if v1 else "no cgroup controllers are mounted"
    return Hierarchy(1, usable, root), ""
