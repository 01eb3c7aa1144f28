"""Notebooks: a user's servers (one per group) and what quick-launch may start."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from hub_ext.activity import name_groups
from hub_ext.groups import group_policy
from hub_ext.ledger import Request, Snapshot
from hub_ext.policy import Catalog, GroupPolicy
from spawner.gpus import machine_reason
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
    culled: bool = False  # ... or when the idle culler stopped it (not an error)
    datasets: str = ""  # its dataset picks, as the launch form sends them: "imagenet,labels@v3"
    group_title: str = ""  # the group's display name (what people read)


def server_rows(user, base_url: str, last_events: dict | None = None) -> list[ServerRow]:
    """Every named server of ``user`` (a jupyterhub.user.User), with its group.

    ``last_events`` maps workload ids to their newest activity, so a stopped
    server says why it stopped when that was an error.
    """
    group_names = [g.name for g in user.orm_user.groups]
    titles = {g.name: group_policy(g).display_name or g.name for g in user.orm_user.groups}
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
        # how it last ended, when that was an error or the culler (hub_ext.lifecycle) stopped it
        outcome = name_groups(last.message, titles) if status == "stopped" and last is not None and (
            last.status == "error" or last.action == "culled") else ""
        group = saved.get("group") or options.get("group") or group_for_server(name, group_names)
        rows.append(ServerRow(
            name=name,
            group=group,
            group_title=titles.get(group, group or ""),
            instance_type=saved.get("instance_type") or options.get("instance_type") or "",
            image=saved.get("image") or options.get("image") or "",
            status=status,
            url=user.server_url(name),  # with subdomain_host, on the user's own host
            outcome=outcome,
            culled=bool(outcome) and last.action == "culled",
            datasets=",".join(saved.get("datasets") or options.get("datasets") or ()),
        ))
    return rows


@dataclass
class QuickLaunch:
    image: str
    title: str
    kind: str  # tensorflow | pytorch
    instance_type: str | None
    url: str | None  # where the one-click launch form posts to, None when disabled
    reason: str  # why it is disabled ("" when enabled)

    @property
    def options(self) -> dict:
        """The launch options the button's form posts (with the XSRF token)."""
        return {"instance_type": self.instance_type, "image": self.image}


def quick_launches(
    *, snapshot: Snapshot, catalog: Catalog, policy: GroupPolicy, group: str, username: str,
    hub_base_url: str, states: dict[str, str], machine_gpus: list[int] | None = None,
) -> list[QuickLaunch]:
    """The TensorFlow / PyTorch buttons of home, with the reason when one cannot start.

    ``states`` maps the user's active servers to "running" or "starting";
    ``machine_gpus`` is what this machine can hand out (None: a scheduler decides).
    """
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
        elif server in states:
            reason = f"Your notebook in this group is already {states[server]}"
        elif machine_reason(instance_type.gpu, machine_gpus):
            reason = machine_reason(instance_type.gpu, machine_gpus)
        else:
            over = snapshot.shortfalls(
                username, Request(cpu=instance_type.cpu, memory=instance_type.memory, gpu=instance_type.gpu),
                policy.quota, policy.user_quota,
            )
            titles = {group: policy.display_name or group}  # the refusal names the group as people know it
            reason = "Over quota: " + "; ".join(name_groups(line, titles) for line in over) if over else ""
        url = None if reason else f"{hub_base_url}spawn/{quote(username)}/{server}"
        buttons.append(QuickLaunch(image.name, image.title, image.quick_launch,
                                   instance_type.name if instance_type else None, url, reason))
    return buttons
