"""Where group trees live, and making one with the right ownership.

``<data>/groups/<group>/`` is the hub group's shared tree (see
:mod:`hub_ext.isolation.shared`); ``<data>/groups/`` itself is 0711 so that
workload accounts pass through it to their own group's tree but cannot list
the others. Group names are the hub's; one that could escape the parent
(``..``, a "/") is refused.
"""

from __future__ import annotations

from pathlib import Path

from ..isolation import fsflags, safefs
from ..isolation.shared import shared_dir

GROUPS = "groups"
PARENT_MODE = 0o711


def _checked(group: str) -> str:
    if not group or group in (".", "..") or "/" in group or "\x00" in group:
        raise ValueError(f"not a group name: {group!r}")
    return group


def group_root(data_dir, group: str) -> Path:
    """``<data>/groups/<group>`` (not created)."""
    return Path(data_dir) / GROUPS / _checked(group)


def ensure_parent(path: Path) -> None:
    """``path`` (a top-level area such as ``<data>/groups``) exists, 0711: pass through, never list."""
    safefs.ensure_dir(path, PARENT_MODE)


def ensure_group_root(data_dir, group: str, isolation) -> Path:
    """The group's tree, created (or repaired) owned by its Unix group with the shared modes and ACLs.

    ``isolation`` is the :class:`hub_ext.isolation.Isolation` (or None: no Unix groups).
    """
    root = group_root(data_dir, group)
    ensure_parent(root.parent)
    gid = isolation.unix_gid(group) if isolation is not None else None
    if root.is_dir() and not root.is_symlink():
        st = root.stat()
        if gid is None or (st.st_gid == gid and st.st_mode & 0o7777 == 0o2770):
            return root
        if fsflags.path_is_immutable(root.parent, root.name):
            return root  # locked over its storage quota (hub_ext.storage.quota_guard): repaired once unlocked
    elif root.is_symlink():
        raise ValueError(f"{root} is a symbolic link: refusing to use it as a group's storage")
    shared_dir(root, gid)
    return root
