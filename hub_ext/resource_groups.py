"""Resource groups: where a workload runs (Backend.AI's resource groups, a Kubernetes node pool).

The operator declares them in the catalog (``resource_groups:``, or ``c.Hubfront.resource_groups``):
a name, a description, a node selector and tolerations. A group's policy lists those its members may
use (``resource_groups``, ``["*"]`` for all); an instance type may run in some of them only. A
workload placed in one gets its node selector and tolerations (merged over the instance type's).

Nothing is faked: on the embedded default every workload runs on this one machine, so there is one
resource group, ``local``, whatever the catalog declares; on Kubernetes with none declared there is
one, ``cluster``, holding every node. Quota stays per group (the ledger); a reservation records the
resource group it was placed in, so use can be shown per resource group.

No tornado here: the hub's forms and APIs, the spawners and the runner all ask these functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from .policy import Catalog, GroupPolicy, InstanceType, ResourceGroup

LOCAL = ResourceGroup(name="local", display_name="local",
                      description="This machine: every workload of the embedded default runs here")
CLUSTER = ResourceGroup(name="cluster", display_name="cluster",
                        description="Every node of the Kubernetes cluster (no resource groups are declared)")
FIELD = "resource_group"


class ResourceGroupRefused(ValueError):
    """A resource group the caller may not use; ``str()`` is the message for the ``resource_group`` field."""


def implicit(rg: ResourceGroup) -> bool:
    return rg is LOCAL or rg is CLUSTER


def available(catalog: Catalog) -> list[ResourceGroup]:
    """The resource groups there are: ``local`` on one machine, else the declared ones (or ``cluster``)."""
    if catalog.local:
        return [LOCAL]
    return list(catalog.resource_groups) or [CLUSTER]


def allowed(policy: GroupPolicy, catalog: Catalog) -> list[ResourceGroup]:
    """The resource groups a group's workloads may use, in the catalog's order (the first is the default)."""
    groups = available(catalog)
    if implicit(groups[0]) or "*" in policy.resource_groups:
        return groups
    return [rg for rg in groups if rg.name in policy.resource_groups]


def runs_in(instance_type: InstanceType, rg: ResourceGroup) -> bool:
    """Whether an instance type may be placed in a resource group (every type runs in an implicit one)."""
    return implicit(rg) or not instance_type.resource_groups or rg.name in instance_type.resource_groups


def choose(name: str | None, instance_type: InstanceType, policy: GroupPolicy, catalog: Catalog,
           group: str) -> ResourceGroup:
    """The resource group a workload asks for (or the first allowed one it runs in), or
    :class:`ResourceGroupRefused` saying why, for the ``resource_group`` field."""
    choices = allowed(policy, catalog)
    if name:
        rg = next((rg for rg in choices if rg.name == name), None)
        if rg is None:
            raise ResourceGroupRefused(f"{name!r} is not a resource group group {group} may use"
                                       f" (allowed: {', '.join(r.name for r in choices) or 'none'})")
        if not runs_in(instance_type, rg):
            raise ResourceGroupRefused(f"instance type {instance_type.name!r} does not run in resource group "
                                       f"{name!r} (it runs in: {', '.join(instance_type.resource_groups)})")
        return rg
    rg = next((rg for rg in choices if runs_in(instance_type, rg)), None)
    if rg is None:
        raise ResourceGroupRefused(f"group {group} may use no resource group where instance type "
                                   f"{instance_type.name!r} runs")
    return rg


def stored(catalog: Catalog, name: str) -> ResourceGroup | None:
    """The resource group a stored workload was placed in (``""``, from before resource groups: the
    first there is); None when the operator has removed it since."""
    groups = available(catalog)
    if not name or implicit(groups[0]):
        return groups[0]
    return next((rg for rg in groups if rg.name == name), None)


@dataclass(frozen=True)
class Placement:
    """A pod's nodeSelector and tolerations: the resource group's over the instance type's."""

    node_selector: dict
    tolerations: tuple

    @classmethod
    def of(cls, instance_type: InstanceType | None, rg: ResourceGroup | None) -> "Placement":
        selector = dict(instance_type.node_selector) if instance_type else {}
        tolerations = list(rg.tolerations) if rg else []
        if rg is not None:
            selector.update(rg.node_selector)
        for toleration in instance_type.tolerations if instance_type else ():
            if toleration not in tolerations:
                tolerations.append(toleration)
        return cls(selector, tuple(tolerations))


class GoneResourceGroup(ValueError):
    """A stored workload's resource group is no longer declared: it is not placed anywhere else."""


def placement(catalog: Catalog | None, instance_type: InstanceType | None, name: str) -> Placement:
    """Where a stored workload (its instance type, the resource group it asked for) runs; raises
    :class:`GoneResourceGroup` when the operator has removed that resource group since."""
    rg = stored(catalog, name) if catalog is not None else None
    if catalog is not None and rg is None:
        raise GoneResourceGroup(f"Resource group {name!r} no longer exists; submit it again in another one")
    return Placement.of(instance_type, rg)


def summary(rg: ResourceGroup) -> dict:
    """What the forms and the panel show of a resource group."""
    return {"name": rg.name, "display_name": rg.title, "description": rg.description}
