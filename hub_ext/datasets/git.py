"""A git dataset's clone: made, brought up to date, read-only for everyone (no database here).

git runs with no terminal prompt, only the allowed transports (``GIT_ALLOW_PROTOCOL``: no
``ext::`` helpers; ``file`` only where local repositories are allowed), no system, user or
repository config a member wrote, and a deadline; on the deadline every process of the sync is killed
(its process group, and its cgroup where it has one).

Who runs git (:class:`RunAs`): with isolation on, the dataset's group's service account, started
through the workload entry (its own cgroup, namespaces, ``no_new_privs``), with the group's own
``known_hosts`` in that account's home; with isolation off, the hub's own account. The clone is made
in ``.<repo>.partial`` next to the clone (the account's, nobody else's), then handed over: root's and
read-only for everyone (``disk.hand_over``, through descriptors: the group's other processes run as the
same account and may have changed the tree meanwhile), and renamed into place. git never runs as root
in a tree the account wrote (its ``.git/config`` could name commands): what the clone is of is kept in
``.<repo>.source``, written by root beside it.

Where the remote's host was resolved and checked (``addresses.resolve``), git connects to that very
address (:class:`Pin`): curl's resolve list for http(s), ssh's ``HostName`` (the key is still
checked under the host's name), a URL rewrite for git://; http redirects are not followed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import disk

MESSAGE_TAIL = 600  # characters of git's complaint kept as the sync message
GLOBAL_CONFIG = str(Path(__file__).with_name("sync.gitconfig"))  # shipped with Hubfront, no member writes it


class GitError(Exception):
    """A clone or fetch failed; the message is git's own (its last lines)."""


@dataclass(frozen=True)
class Synced:
    commit: str
    subject: str  # the commit's first line


@dataclass(frozen=True)
class RunAs:
    """How git runs for one sync. ``home``: its HOME, holding ``.ssh/known_hosts`` (None: no host key is
    remembered); ``preexec``: the child's set-up between fork and exec (``Isolation.preexec``); ``uid``:
    the account that writes the clone (None: the hub's own); ``kill``: stops every process of the sync."""

    home: str | None = None
    preexec: Callable[[], None] | None = None
    uid: int | None = None
    kill: Callable[[], None] | None = None


@dataclass(frozen=True)
class Pin:
    """The checked addresses git must connect to for ``host:port`` (``addresses.resolve``)."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def known_hosts(home: str | None) -> str:
    """The group's own known hosts file (never root's, never the system's)."""
    return os.path.join(home, ".ssh", "known_hosts") if home else os.devnull


def ssh_command(home: str | None, pin: Pin | None = None) -> str:
    """GIT_SSH_COMMAND: no ssh config file read (a member could write the account's ~/.ssh/config), no
    agent, proxy or local command; host keys accepted the first time and checked after, in the group's
    own file. With a pin, ssh connects to the checked address."""
    options = ["BatchMode=yes", "StrictHostKeyChecking=accept-new", f"UserKnownHostsFile={known_hosts(home)}",
               "GlobalKnownHostsFile=/dev/null", "CheckHostIP=no", "ControlMaster=no", "ControlPath=none",
               "ProxyCommand=none", "ProxyJump=none", "PermitLocalCommand=no", "ForwardAgent=no",
               "ServerAliveInterval=15", "ServerAliveCountMax=4"]
    if pin is not None and pin.scheme == "ssh":
        alias = pin.host if pin.port == 22 else f"[{pin.host}]:{pin.port}"
        options += [f"HostName={pin.addresses[0]}", f"HostKeyAlias={alias}"]
    return " ".join(["ssh", "-F", "/dev/null", *(f"-o {shlex.quote(o)}" for o in options)])


def _env(protocols: list[str], runas: RunAs, pin: Pin | None) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": runas.home or tempfile.gettempdir(),
        "LANG": "C.UTF-8", "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false",
        "GIT_ALLOW_PROTOCOL": ":".join(protocols), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": GLOBAL_CONFIG,
        "GIT_SSH_COMMAND": ssh_command(runas.home, pin),
    }


def pin_config(url: str, pin: Pin | None) -> list[str]:
    """``-c`` options that make git connect to the pinned addresses only."""
    config = ["-c", "http.followRedirects=false"]  # a redirect would go to a host nobody checked
    if pin is None:
        return config
    if pin.scheme in ("http", "https"):
        config += ["-c", f"http.curloptResolve={pin.host}:{pin.port}:{','.join(map(_bracket, pin.addresses))}"]
    elif pin.scheme == "git":
        written = re.match(r"^git://[^/]*/", url)
        if written:
            config += ["-c", f"url.git://{_bracket(pin.addresses[0])}:{pin.port}/.insteadOf={written.group(0)}"]
    return config


class _Deadline:
    def __init__(self, seconds: float):
        self.seconds, self.end = seconds, time.monotonic() + seconds

    def left(self) -> float:
        return max(0.1, self.end - time.monotonic())


def _preexec(runas: RunAs):
    """The workload entry, then the group's ``~/.ssh`` made as the account itself (ssh writes known_hosts
    there)."""
    def child():
        if runas.preexec is not None:
            runas.preexec()
        if runas.home is not None:
            os.makedirs(os.path.join(runas.home, ".ssh"), 0o700, exist_ok=True)
    return child


def _git(args: list[str], *, env: dict, deadline: _Deadline, runas: RunAs, config: list[str] = (),
         where: str = "/") -> str:
    """git ``args`` in ``where`` (``-C``), as ``runas`` says, within the deadline. Commands that reach the
    network run in ``/``: started in the account's home, git would read the config of a repository found
    there (a ``url.*.insteadOf`` pointing elsewhere than the address checked)."""
    try:
        proc = subprocess.Popen(["git", "-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null", *config,
                                 "-C", where, *args],
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True, preexec_fn=_preexec(runas), close_fds=True)
    except (OSError, subprocess.SubprocessError) as exc:  # the sandbox could not be entered, or no git
        raise GitError(f"git could not start: {exc}") from None
    try:
        out, err = proc.communicate(timeout=deadline.left())
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if runas.kill is not None:
            runas.kill()
        proc.communicate()
        raise GitError(f"git {args[0]} took longer than {int(deadline.seconds)} s and was stopped") from None
    if proc.returncode != 0:
        lines = [ln for ln in (err or out).strip().splitlines() if not ln.startswith("warning: ")]
        raise GitError("\n".join(lines)[-MESSAGE_TAIL:] or f"git {args[0]} failed ({proc.returncode})")
    return out.strip()


def _source_file(repo: Path) -> Path:
    return repo.with_name(f".{repo.name}.source")


def recorded(repo: Path) -> dict | None:
    """What the clone in ``repo`` is of (url, branch, commit, subject), as root recorded it; None if unknown."""
    try:
        data = json.loads(_source_file(repo).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and (repo / ".git").is_dir() else None


def _record(repo: Path, url: str, branch: str, synced: Synced) -> None:
    target = _source_file(repo)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps({"url": url, "branch": branch, "commit": synced.commit, "subject": synced.subject}))
    os.replace(tmp, target)


def remote_commit(url: str, branch: str, *, env: dict, deadline: _Deadline, runas: RunAs, config: list[str]) -> str:
    """The commit ``branch`` of ``url`` is at now (GitError if there is no such branch)."""
    ref = f"refs/heads/{branch}"
    out = _git(["ls-remote", "--heads", url, ref], env=env, deadline=deadline, runas=runas, config=config)
    for line in out.splitlines():
        commit, _, name = line.partition("\t")
        if name == ref:
            return commit
    raise GitError(f"Remote branch {branch} not found in upstream origin")


def sync(repo: Path, url: str, branch: str, *, protocols: list[str], timeout: float, runas: RunAs | None = None,
         pin: Pin | None = None) -> Synced:
    """``repo`` is a clone of ``url``'s ``branch`` at its latest commit, read-only for everyone. When the
    clone is of the same URL and branch and the branch has not moved, nothing is fetched; otherwise a
    fresh shallow clone replaces it."""
    runas = runas or RunAs()
    env, config, deadline = _env(protocols, runas, pin), pin_config(url, pin), _Deadline(timeout)
    repo = Path(repo)
    known = recorded(repo)
    if known and (known.get("url"), known.get("branch")) == (url, branch):
        commit = remote_commit(url, branch, env=env, deadline=deadline, runas=runas, config=config)
        if commit == known.get("commit"):
            return Synced(commit, str(known.get("subject", "")))
    partial = repo.with_name(f".{repo.name}.partial")
    disk.remove_tree(partial)  # left by a sync that was killed
    disk.workspace(partial, runas.uid)
    try:
        _git(["clone", "--quiet", "--no-local", "--depth", "1", "--single-branch", "--branch", branch,
              "--", url, str(partial)], env=env, deadline=deadline, runas=runas, config=config)
        head = _git(["log", "-1", "--format=%H%n%s"], env=env, deadline=deadline, runas=runas, where=str(partial))
        commit, _, subject = head.partition("\n")
        if runas.kill is not None:
            runas.kill()  # nothing of the sync runs any more while the clone is handed over
        if runas.uid is not None:
            disk.hand_over(partial, runas.uid)
        else:
            disk.make_readonly(partial)
    except BaseException:
        disk.remove_tree(partial)
        raise
    synced = Synced(commit, subject)
    disk.remove_tree(repo)
    os.rename(partial, repo)
    _record(repo, url, branch, synced)
    return synced
