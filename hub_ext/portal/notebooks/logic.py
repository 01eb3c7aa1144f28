"""Notebooks: a user's servers (one per group) and what quick-launch may start."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from hub_ext.ledger import Request, Snapshot
from hub_ext.policy import Catalog, GroupPolicy
from spawner.plan import group_for_server, server_name_for


@dataclass
class ServerRow:
    name: str
    group: str | None
    instance_type: str
    image: str
    status: str  # running, starting, stopping, stopped
    url: str
    outcome: str = ""  # how a stopped server last ended, when that was an error ("Out of memory (limit 1 GiB)…")


def server_rows(user, base_url: str, last_events: dict | None = None) -> list[ServerRow]:
    """Every named server of ``user`` (a jupyterhub.user.User), with its group.

    ``last_events`` maps workload ids to their newest activity, so a stopped
    server says why it stopped when that was an error.
    """
    group_names = [g.name for g in user.orm_user.groups]
    last_events = last_events or {}
    rows = []
    for name, orm_spawner in sorted(user.orm_user.orm_spawners.items()):
        if not name:
            continue
        spawner = user.spawners[name]
        saved = (orm_spawner.state or {}).get("hubfront") or {}
        options = orm_spawner.user_options or {}
        if spawner.pending == "spawn":
            status = "starting"
        elif spawner.pending == "stop":
            status = "stopping"
        elif spawner.ready:
            status = "running"
        else:
            status = "stopped"
        last = last_events.get(f"{user.name}/{name}")
        outcome = last.message if status == "stopped" and last is not None and last.status == "error" else ""
        rows.append(ServerRow(
            name=name,
            group=saved.get("group") or options.get("group") or group_for_server(name, group_names),
            instance_type=saved.get("instance_type") or options.get("instance_type") or "",
            image=saved.get("image") or options.get("image") or "",
            status=status,
            url=f"{base_url}user/{user.escaped_name}/{name}/",
            outcome=outcome,
        ))
    return rows


@dataclass
class QuickLaunch:
    image: str
    title: str
    kind: str  # tensorflow | pytorch
    instance_type: str | None
    url: str | None  # the one-click spawn URL, None when disabled
    reason: str  # why it is disabled ("" when enabled)


def quick_launches(
    *, snapshot: Snapshot, catalog: Catalog, policy: GroupPolicy, group: str, username: str,
    hub_base_url: str, running: set[str],
) -> list[QuickLaunch]:
    """The TensorFlow / PyTorch buttons of home, with the reason when one cannot start."""
    instance_type = policy.default_instance(catalog)
    server = server_name_for(group)
    buttons = []
    for image in policy.allowed_images(catalog):
        if not image.quick_launch:
            continue
        reason = ""
        if instance_type is None:
            reason = "No instance type is allowed in this group"
        elif not image.supports(instance_type):
            reason = f"No variant of {image.title} for {instance_type.title}"
        elif server in running:
            reason = "Your notebook in this group is already running"
        else:
            over = snapshot.shortfalls(
                username, Request(cpu=instance_type.cpu, memory=instance_type.memory, gpu=instance_type.gpu),
                policy.quota, policy.user_quota,
            )
            reason = "Over quota: " + "; ".join(over) if over else ""
        url = None
        if not reason:
            query = urlencode({"group": group, "instance_type": instance_type.name, "image": image.name})
            url = f"{hub_base_url}spawn/{quote(username)}/{server}?{query}"
        buttons.append(QuickLaunch(image.name, image.title, image.quick_launch,
                                   instance_type.name if instance_type else None, url, reason))
    return buttons
