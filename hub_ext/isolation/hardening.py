"""The hub's state, out of workloads' reach.

The data dir holds the SQLite databases, the cookie secret, the admin
password, the secret and license keys (all hub-only), the homes (each its
owner's) and the built image environments (readable, never writable, by
workloads). Workloads need to pass through the data dir to reach their home
and environment, so it is 0711: searchable, not listable. Everything else in
it is the hub's alone: files 0600, directories 0700.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# top-level entries workloads must reach, with their mode
PASS_THROUGH = {"homes": 0o711, "envs": 0o755, "groups": 0o711, "datasets": 0o711, "folders": 0o711}
DATA_DIR_MODE = 0o711


def _fix(path: Path, mode: int, fixes: list[str]) -> None:
    current = stat.S_IMODE(path.lstat().st_mode)
    if current != mode:
        path.chmod(mode)
        fixes.append(f"{path}: {current:04o} -> {mode:04o}")


def secure_data_dir(data_dir: str | Path) -> list[str]:
    """Set the modes the model above wants; return what was changed (for the log)."""
    root = Path(data_dir)
    fixes: list[str] = []
    if not root.is_dir():
        return fixes
    _fix(root, DATA_DIR_MODE, fixes)
    for entry in root.iterdir():
        if entry.is_symlink():
            continue
        if entry.is_dir():
            wanted = PASS_THROUGH.get(entry.name, 0o700)
            _fix(entry, wanted, fixes)
            if entry.name == "envs":  # built environments: nobody but the hub writes there
                for env in entry.iterdir():
                    if env.is_dir() and not env.is_symlink() and env.lstat().st_mode & 0o022:
                        _fix(env, stat.S_IMODE(env.lstat().st_mode) & ~0o022, fixes)
        elif entry.is_file():
            current = stat.S_IMODE(entry.lstat().st_mode)
            if current & 0o077:
                _fix(entry, current & 0o700, fixes)
    return fixes


def unreachable_ancestor(path: str | Path) -> Path | None:
    """The first directory on the way to ``path`` that other accounts may not pass, or None."""
    current = Path(path).resolve()
    for directory in [*reversed(current.parents), current]:
        try:
            mode = directory.stat().st_mode
        except OSError:
            return directory
        if not mode & stat.S_IXOTH:
            return directory
    return None


def reachable_check(paths: list[tuple[str, str | Path]]) -> list[str]:
    """One message per ``(what, path)`` (the data dir, the hub's Python) workloads cannot reach."""
    problems = []
    for what, path in paths:
        blocked = unreachable_ancestor(path)
        if blocked is not None:
            problems.append(f"{what} {path} is not reachable by workload accounts: {blocked} is mode "
                            f"{stat.S_IMODE(blocked.stat().st_mode) if blocked.exists() else 0:04o} "
                            f"(give others search permission: chmod o+x {blocked})")
    return problems


# the kernel's link protections in shared sticky directories (/tmp of processes outside a workload's
# namespace, the host's): the values systemd sets, as name -> safe minimum
PROTECTED_SYSCTLS = {"fs.protected_symlinks": 1, "fs.protected_hardlinks": 1, "fs.protected_regular": 2,
                     "fs.protected_fifos": 1}


def protect_links(proc_sys: str = "/proc/sys") -> tuple[list[str], list[str]]:
    """Raise each of :data:`PROTECTED_SYSCTLS` to its safe value where it is lower; return what was set
    (for the log) and a warning per one that could not be read or set (a container's read-only /proc/sys):
    without them a link planted in a shared /tmp can redirect a write of another account's process."""
    fixes, warnings = [], []
    for name, wanted in PROTECTED_SYSCTLS.items():
        path = os.path.join(proc_sys, *name.split("."))
        try:
            with open(path) as f:
                current = int(f.read().strip() or 0)
        except (OSError, ValueError) as exc:
            warnings.append(f"{name} could not be read ({exc}); make sure it is at least {wanted} on the host")
            continue
        if current >= wanted:
            continue
        try:
            with open(path, "w") as f:
                f.write(str(wanted))
            fixes.append(f"{name} was {current}, set to {wanted}")
        except OSError as exc:
            warnings.append(f"{name} is {current} and could not be set ({exc.strerror}): links planted in a "
                            f"shared /tmp can redirect other accounts' writes; set it on the host "
                            f"(sysctl -w {name}={wanted}, and in /etc/sysctl.d)")
    return fixes, warnings
