"""Group membership and policy in the hub's own database: read everywhere, groups made and removed by the
hub admins' Groups console."""

from __future__ import annotations

import re

from jupyterhub import orm

from .policy import GroupPolicy, policy_of, properties_with


def member_groups(orm_user) -> list:
    """The user's groups, sorted by name."""
    return sorted(orm_user.groups, key=lambda g: g.name)


def find_group(db, name: str):
    return orm.Group.find(db, name)


def is_member(orm_user, group_name: str) -> bool:
    return any(g.name == group_name for g in orm_user.groups)


def group_policy(group) -> GroupPolicy:
    """The group's policy, parsed once per properties document: JupyterHub loads the user's groups again on
    every request (a new dict each time), so the one parsed last is kept while the document is the same."""
    properties = group.properties
    cached = getattr(group, "_hubfront_policy", None)
    if cached is not None and (cached[0] is properties or cached[0] == properties):
        return cached[1]
    policy = policy_of(properties)
    group._hubfront_policy = (properties, policy)
    return policy


def is_group_admin(orm_user, group) -> bool:
    """Hub admins administer every group; group admins are named in the policy."""
    if orm_user.admin:
        return True
    return is_member(orm_user, group.name) and group_policy(group).is_admin(orm_user.name)


def display_name(group) -> str:
    return group_policy(group).display_name or group.name


# -- creating and deleting groups (the hub admins' Groups console) ------------------------------------

# A new group's name names its notebook servers, its apps' addresses and its storage: kept to what needs no
# encoding anywhere (the display name carries the words people read)
GROUP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
GROUP_NAME_RULE = "use 1 to 30 lower-case letters, digits or '-', starting with a letter (e.g. vision-lab)"


class GroupExists(ValueError):
    """A group by that name is already there."""


def all_groups(db) -> list:
    """Every group of the hub, members of it or not, by name."""
    return db.query(orm.Group).order_by(orm.Group.name).all()


def create_group(db, name: str, policy: GroupPolicy):
    """A new group holding ``policy``, made the way the hub's own group API makes one (an ``orm.Group``
    committed to the hub's database); :class:`GroupExists` when the name is taken."""
    if orm.Group.find(db, name) is not None:
        raise GroupExists(f"a group named {name!r} already exists")
    group = orm.Group(name=name, properties=properties_with({}, policy))
    db.add(group)
    db.commit()
    return group


def store_policy(db, group, policy: GroupPolicy) -> None:
    """Write ``policy`` to the group's properties (reassigned whole, never mutated in place)."""
    group.properties = properties_with(group.properties, policy)
    db.commit()


def delete_group(db, group) -> None:
    """Remove the group as the hub's own API does; its memberships go with it."""
    db.delete(group)
    db.commit()
