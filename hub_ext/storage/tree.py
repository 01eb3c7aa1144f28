"""Where group trees live, and making one with the right ownership.

``<data>/groups/<group>/`` is the hub group's shared tree (see
:mod:`hub_ext.isolation.shared`); ``<data>/groups/`` itself is 0711 so that
workload accounts pass through it to their own group's tree but cannot list
the others. Group names are the hub's; one that could escape the parent
(``..``, a "/") is refused.
"""

from __future__ import annotations

import functools
import sys
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


# -- whether the hub's trees are the workloads' ------------------------------------------

UNREACHABLE = "Group storage is not reachable from the hub on this deployment: set KubeStorage.data_claim"


def hub_reaches_group_storage(config) -> bool:
    """Whether ``<data>/groups/<group>`` on the hub is the storage the group's workloads mount.

    Local workloads link to it, so it is. Kubernetes pods (a KubeSpawner-based
    ``JupyterHub.spawner_class``) mount ``groups/<group>`` of ``KubeStorage.data_claim``, the claim
    holding the hub's data dir, when it is set; without it each group has a claim of its own that
    the hub never sees, and what reads or writes the hub's trees (the Shared Files page, the files
    and uploads APIs, share links) must be absent rather than show files no workload sees.
    """
    if not _is_kube_spawner(config.JupyterHub.get("spawner_class")):
        return True
    from .kube import KubeStorage

    return bool(KubeStorage(config=config).data_claim)


@functools.lru_cache(maxsize=16)
def _is_kube_spawner(value) -> bool:
    """``value`` of ``JupyterHub.spawner_class`` (a class, a dotted name or an entry point) is a KubeSpawner."""
    if value is None:
        return False  # JupyterHub's default, LocalProcessSpawner
    from jupyterhub.spawner import Spawner
    from jupyterhub.traitlets import EntryPointType
    from traitlets import HasTraits, TraitError

    class _Choice(HasTraits):
        cls = EntryPointType(klass=Spawner, entry_point_group="jupyterhub.spawners")

    try:
        cls = _Choice(cls=value).cls
    except TraitError:
        return False  # not a spawner at all: the hub itself refuses it
    kube = sys.modules.get("kubespawner.spawner")  # loaded by any KubeSpawner subclass
    return kube is not None and issubclass(cls, kube.KubeSpawner)
