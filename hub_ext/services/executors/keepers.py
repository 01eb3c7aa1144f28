"""The runner's side of the keepers (``keeper.py``): starting them from a warm server, and hearing their news.

- :class:`KeeperServer`: one ``python -m …keeper --serve`` per runner, started with it (the executor's
  ``prepare``) and kept: it forks a keeper per job, so a job does not wait for an interpreter and its
  imports (the largest part of submit→Running). Should it be gone, the next launch starts a new one; a
  launch it could not take starts a keeper of its own, as one without a server does.
- :class:`StateWatch`: inotify on the keepers' state directory. A keeper records every change of its job
  there (started, log compacted, ended) by renaming a new state file into place, so the runner hears a
  job's end the moment it is recorded instead of at its next look; its looks (``Runner.watch_interval``)
  stay, as the fallback for what inotify cannot tell (a keeper gone without a word).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from . import keeper

PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])


def keeper_env() -> dict[str, str]:
    """A keeper's environment: the runner's, with this package importable."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])))


def keeper_command(*args: str) -> list[str]:
    return [sys.executable, "-m", keeper.__name__, *args]


def launch_alone(config: dict) -> tuple[str, subprocess.Popen | None]:
    """A keeper in an interpreter of its own: its reply line, and the process while it keeps a job."""
    proc = subprocess.Popen(keeper_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=keeper_env(), start_new_session=True, close_fds=True)
    try:
        proc.stdin.write(json.dumps(config).encode())
        proc.stdin.close()
        reply = proc.stdout.readline().decode().strip()
    finally:
        proc.stdout.close()
    if not reply.startswith("ok "):
        err = proc.stderr.read().decode(errors="replace").strip().splitlines()
        proc.wait(10)
        return f"error {reply[6:] or (err[-1] if err else '')}", None
    proc.stderr.close()
    return reply, proc


class KeeperServer:
    """A warm keeper server: ``launch(config)`` is the forked keeper's reply line, or None when the server
    could not take the config (then nothing was started and the caller starts a keeper itself)."""

    def __init__(self):
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()  # launches come from worker threads: one conversation at a time

    def start(self) -> None:
        """Start the server now, so that it is warm by the first launch."""
        with self._lock:
            self._running()

    def _running(self) -> subprocess.Popen | None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            try:
                proc = self._proc = subprocess.Popen(
                    keeper_command("--serve"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, env=keeper_env(), start_new_session=True, close_fds=True)
            except OSError:
                return None
        return proc

    def launch(self, config: dict) -> str | None:
        line = json.dumps(config).encode() + b"\n"
        with self._lock:
            proc = self._running()
            if proc is None:
                return None
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
            except OSError:  # gone before it read the config: nothing started
                self._close(proc)
                return None
            reply = proc.stdout.readline().decode()
            if not reply.endswith("\n"):  # gone after it read the config: it may have started the job
                self._close(proc)
                return "error the keeper server ended before it answered"
            return reply.strip()

    def _close(self, proc: subprocess.Popen) -> None:
        for pipe in (proc.stdin, proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._proc is proc:
            self._proc = None

    def close(self) -> None:
        """End the server (the keepers it started go on); a later launch starts a new one."""
        with self._lock:
            if self._proc is not None:
                self._close(self._proc)


def ref_of(state_name: str) -> str | None:
    """The handle ref a state file's name stands for (``keeper.state_path`` reversed), or None."""
    if not state_name.endswith(".json"):
        return None
    pid, sep, start = state_name[: -len(".json")].partition("-")
    return f"{pid}:{start}" if sep and pid.isdigit() else None


class StateWatch:
    """Calls each listener with a ref whenever that keeper's state file is replaced (in the event loop)."""

    def __init__(self, state_dir: str):
        self.state_dir = state_dir
        self._listeners: list[Callable[[str], None]] = []
        self._inotify = None
        self._loop = None

    def listen(self, loop, listener: Callable[[str], None]) -> None:
        from inotify_simple import INotify, flags

        self._listeners.append(listener)
        if self._inotify is None:
            inotify = INotify()
            try:
                inotify.add_watch(self.state_dir, flags.MOVED_TO | flags.ONLYDIR | flags.DONT_FOLLOW)
            except BaseException:
                inotify.close()
                raise
            self._inotify, self._loop = inotify, loop
            loop.add_reader(inotify.fileno(), self._read)

    def _read(self) -> None:
        for event in self._inotify.read(timeout=0):
            ref = ref_of(event.name)
            if ref is not None:
                for listener in list(self._listeners):
                    listener(ref)

    def close(self) -> None:
        if self._inotify is not None:
            self._loop.remove_reader(self._inotify.fileno())
            self._inotify.close()
            self._inotify = None
        self._listeners.clear()
