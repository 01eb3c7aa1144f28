"""The Groups console's logic (no tornado): each group's row (members, quota use, policy summary), what still
runs in a group (a group is deleted only when nothing does), and the choices the policy form offers.

Quota use comes from the ledger; whether jobs, deployments and apps run from their stores (the rule of
:mod:`hub_ext.ledger.workloads`), notebooks from the ledger's reservations and the hub's own list.
"""

from __future__ import annotations

from sqlalchemy import select

from spawner.plan import server_name_for

from ...groups import display_name, group_policy
from ...ledger import Ledger
from ...ledger.workloads import JOB_HOLDING, NOTEBOOK
from ...policy import RESOURCE_LABELS, RESOURCES, Catalog, GroupPolicy, format_amount, format_memory
from ...resource_groups import available
from ...store.engine import read_scope
from ...store.models_apps import App
from ...store.models_deployments import Deployment
from ...store.models_jobs import Job
from ..groups.settings_form import GROUP_ADMIN_FIELDS, form_values

# the fields a group's own admins change (the rest of the form is shown to them read-only)
GROUP_ADMIN_EDITS = frozenset(GROUP_ADMIN_FIELDS)


def _titles(names: list[str], known: dict[str, str], everything: str) -> str:
    if "*" in names:
        return everything
    return ", ".join(known.get(n, n) for n in names) or "none"


def policy_summary(policy: GroupPolicy, catalog: Catalog) -> list[str]:
    """The policy in a few short lines for the groups' list."""
    types = {it.name: it.title for it in catalog.instance_types}
    images = {im.name: im.title for im in catalog.images}
    default = policy.default_instance(catalog)
    lines = [
        f"Instance types: {_titles(policy.instance_types, types, 'all')}",
        f"Images: {_titles(policy.images, images, 'all')}"
        + (f" + {len(policy.group_images)} of its own" if policy.group_images else ""),
        f"Default: {default.title if default else 'none'}",
    ]
    if policy.deployments_enabled:
        most = "" if policy.deployments_max is None else f", at most {policy.deployments_max}"
        lines.append(f"Deployments: on{most}")
    else:
        lines.append("Deployments: off")
    return lines


def usage_of(policy: GroupPolicy, used: dict[str, float]) -> list[dict]:
    """The group's use of each resource against its quota: ``{resource, label, used, limit, text}``."""
    rows = []
    for resource in RESOURCES:
        limit = policy.quota.limit(resource)
        text = f"{format_amount(resource, used.get(resource, 0))} / {format_amount(resource, limit)}"
        rows.append({"resource": resource, "label": RESOURCE_LABELS[resource], "used": used.get(resource, 0),
                     "limit": limit, "text": text})
    return rows


def group_row(group, catalog: Catalog, ledger: Ledger) -> dict:
    """What the list shows of one group (and the API answers)."""
    policy = group_policy(group)
    return {
        "name": group.name,
        "display_name": display_name(group),
        "members": sorted(u.name for u in group.users),
        "admins": list(policy.admins),
        "usage": usage_of(policy, ledger.snapshot(group.name).used()),
        "storage_quota": format_memory(policy.quota.storage),
        "summary": policy_summary(policy, catalog),
    }


def running_workloads(db_url: str, group: str, hub_notebooks: set[str]) -> list[str]:
    """What still runs in ``group``, or is about to, one line each (empty: it may be deleted).

    ``hub_notebooks``: ``user/server`` of every server the hub runs or is starting.
    """
    lines: list[str] = []
    server = server_name_for(group)
    notebooks = {r.workload_id for r in Ledger(db_url).reservations(group=group, kind=NOTEBOOK)}
    notebooks |= {n for n in hub_notebooks if n.partition("/")[2] == server}
    lines += [f"notebook server of {n.partition('/')[0]}" for n in sorted(notebooks)]
    with read_scope(db_url) as s:
        for job in s.scalars(select(Job).where(Job.group == group, Job.phase.in_(JOB_HOLDING)).order_by(Job.id)):
            lines.append(f"job {job.id} '{job.name}' of {job.username} ({job.phase})")
        for dep in s.scalars(select(Deployment).where(Deployment.group == group).order_by(Deployment.id)):
            if state := _still(dep):
                lines.append(f"deployment {dep.id} ({state})")
        for app in s.scalars(select(App).where(App.group == group).order_by(App.name)):
            if state := _still(app):
                lines.append(f"app {app.name} ({state})")
    return lines


def _still(row) -> str:
    """How a deployment or an app still runs ("" once it has stopped): desired running, its phase; asked to
    stop or removed, until its replicas are gone (the runner then writes Stopped)."""
    if row.phase == "Stopped" and (row.stopped or row.delete_requested):
        return ""
    if row.delete_requested:
        return "being removed"
    return "stopping" if row.stopped else row.phase


def refusal(group: str, running: list[str]) -> str:
    """Why ``group`` is not deleted, naming what runs."""
    return (f"Group {group} still has {len(running)} workload(s) running: {'; '.join(running)}. "
            "Stop them first (a notebook from Notebooks or the hub's admin page, jobs, deployments and apps "
            "from their pages or their API).")


def form_choices(policy: GroupPolicy, catalog: Catalog) -> dict:
    """What the policy form shows: the current values as inputs, and the catalog's choices."""
    groups = available(catalog)
    return {
        "values": form_values(policy),
        "instance_types": catalog.instance_types,
        "images": catalog.images,
        "all_types": "*" in policy.instance_types,
        "all_images": "*" in policy.images,
        "all_resource_groups": "*" in policy.resource_groups,
        # the field is there only where there is a choice: more than one resource group
        "resource_groups": groups if len(groups) > 1 else [],
    }
