"""Joining a cgroup without waiting, while workloads start.

A process moving into a cgroup takes the kernel's cgroup threadgroup lock for writing. Unless the cgroup
trees are mounted with ``favordynmods``, taking it after a quiet while first waits for an RCU grace period
(5-13 ms measured here, each one paid by a workload's child joining its cgroup just before its exec, on
the path from submit to Running); taken again within a grace period, it costs a fraction of a millisecond.

:class:`Warmth` keeps it that way while something holds it (:meth:`Warmth.kept`, around a workload's
start): a thread of this process moves itself into the cgroup it is already in (a move that changes
nothing) every millisecond. Its first move waits the grace period in parallel with the start's other work
(the network namespace, the mounts), so the child's own move, later, does not. Nobody holding it, the
thread waits and moves nothing. Without a cgroup tree it may write, it does nothing at all.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

PERIOD = 0.001


def own_file(version: int, mount: Path, proc_cgroup: str) -> Path | None:
    """The file through which this process's thread moves itself where it already is: v1 ``tasks`` (the thread
    alone), v2 ``cgroup.procs`` (the process; v2 moves threads only inside threaded trees)."""
    wanted = mount.name if version == 1 else ""
    for line in proc_cgroup.splitlines():
        number, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if version == 2 and number == "0" and controllers == "":
            return mount / path.lstrip("/") / "cgroup.procs"
        if version == 1 and wanted in controllers.split(","):
            return mount / path.lstrip("/") / "tasks"
    return None


class Warmth:
    def __init__(self, version: int, mount: Path):
        try:
            self._file = own_file(version, mount, Path("/proc/self/cgroup").read_text())
        except OSError:
            self._file = None
        self._version = version
        self._holders = 0
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def kept(self) -> Iterator[None]:
        """Keep joining a cgroup fast until the block ends (blocks may overlap: the last one out stops it)."""
        if self._file is None:
            yield
            return
        with self._changed:
            self._holders += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cgroup-warmth", daemon=True)
                self._thread.start()
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._holders -= 1

    def _run(self) -> None:
        me = str(threading.get_native_id() if self._version == 1 else os.getpid())
        while True:
            with self._changed:
                while self._holders == 0:
                    self._changed.wait()
            try:
                with open(self._file, "w") as f:
                    f.write(me)
            except OSError as exc:  # not ours to write after all: starts simply wait as before
                log.info("Workload starts cannot keep cgroup moves fast (%s): %s", self._file, exc)
                self._file = None
                return
            with self._changed:
                self._changed.wait(PERIOD)
