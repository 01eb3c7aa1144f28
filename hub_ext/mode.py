"""The one mode check: whether this hub's workloads run on this machine (the embedded default) or on
Kubernetes, decided from ``JupyterHub.spawner_class`` (a KubeSpawner, or a subclass, is Kubernetes).

The hub side asks :func:`kubernetes`/:func:`embedded` with its config; the runner
asks :func:`runs_here` of its executor (``c.Runner.executor``: ``local`` or
``kubernetes``), which the hub's configuration sets to match.
"""

from __future__ import annotations

import functools
import sys


LOCAL, KUBERNETES = "local", "kubernetes"  # the runner's executors (``c.Runner.executor``)


def runs_here(executor) -> bool:
    """Whether the runner's executor (jobs', deployments', apps') runs workloads on this machine: GPU devices
    are then handed out by the ledger and environments built locally."""
    return executor.name == LOCAL


def kubernetes(config) -> bool:
    """Whether ``config``'s spawner runs notebooks as Kubernetes pods."""
    return _is_kube_spawner(config.JupyterHub.get("spawner_class"))


def on_nodes(config) -> bool:
    """Whether workloads run on Kubernetes nodes, asked in any process: the hub's config names a KubeSpawner,
    or the runner's its Kubernetes executor (resource groups then place them on nodes)."""
    runner = config.Runner if "Runner" in config else {}
    return kubernetes(config) or runner.get("executor") == KUBERNETES


def embedded(config) -> bool:
    """Whether workloads run on this machine (the embedded default): images are then local environments."""
    return not kubernetes(config)


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
