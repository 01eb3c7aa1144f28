"""A git dataset's clone: made, brought up to date, read-only for everyone (no database here).

git runs with no terminal prompt, only the allowed transports (``GIT_ALLOW_PROTOCOL``: no
``ext::`` helpers; ``file`` only where local repositories are allowed), no system or user
config, and a deadline; on a deadline the whole process group is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import disk

MESSAGE_TAIL = 600  # characters of git's complaint kept as the sync message


class GitError(Exception):
    """A clone or fetch failed; the message is git's own (its last lines)."""


@dataclass(frozen=True)
class Synced:
    commit: str
    subject: str  # the commit's first line


def _env(protocols: list[str]) -> dict[str, str]:
    home = tempfile.gettempdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false",
        "GIT_ALLOW_PROTOCOL": ":".join(protocols), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
    }


def _git(args: list[str], *, env: dict, timeout: float, cwd: Path | None = None) -> str:
    proc = subprocess.Popen(["git", "-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null", *args],
                            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise GitError(f"git {args[0]} took longer than {int(timeout)} s and was stopped") from None
    if proc.returncode != 0:
        lines = [ln for ln in (err or out).strip().splitlines() if not ln.startswith("warning: ")]
        raise GitError("\n".join(lines)[-MESSAGE_TAIL:] or f"git {args[0]} failed ({proc.returncode})")
    return out.strip()


def _head(repo: Path, env: dict, timeout: float) -> Synced:
    commit = _git(["-C", str(repo), "rev-parse", "HEAD"], env=env, timeout=timeout)
    subject = _git(["-C", str(repo), "log", "-1", "--format=%s"], env=env, timeout=timeout)
    return Synced(commit, subject)


def sync(repo: Path, url: str, branch: str, *, protocols: list[str], timeout: float) -> Synced:
    """``repo`` is a clone of ``url``'s ``branch`` at its latest commit (cloned, or fetched and reset),
    read-only for everyone. A different URL or branch than the clone's starts afresh."""
    env = _env(protocols)
    repo = Path(repo)
    if (repo / ".git").is_dir():
        try:
            same = (_git(["-C", str(repo), "remote", "get-url", "origin"], env=env, timeout=60) == url
                    and _git(["-C", str(repo), "rev-parse", "--abbrev-ref", "HEAD"], env=env, timeout=60) == branch)
        except GitError:
            same = False
        if same:
            disk.make_writable(repo)
            try:
                ref = f"refs/remotes/origin/{branch}"
                _git(["-C", str(repo), "fetch", "--depth", "1", "origin", f"+refs/heads/{branch}:{ref}"],
                     env=env, timeout=timeout)
                _git(["-C", str(repo), "reset", "--hard", ref], env=env, timeout=timeout)
                _git(["-C", str(repo), "clean", "-ffdx"], env=env, timeout=timeout)
                return _head(repo, env, timeout)
            finally:
                disk.make_readonly(repo)
    partial = repo.with_name(f".{repo.name}.partial")
    disk.remove_tree(partial)
    try:
        _git(["clone", "--quiet", "--no-local", "--depth", "1", "--single-branch", "--branch", branch, "--", url, str(partial)],
             env=env, timeout=timeout)
        synced = _head(partial, env, timeout)
        disk.make_readonly(partial)
    except BaseException:
        disk.remove_tree(partial)
        raise
    disk.remove_tree(repo)
    os.rename(partial, repo)
    return synced
