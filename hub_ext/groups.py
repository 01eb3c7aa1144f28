"""Group membership and policy, read from the hub's own database."""

from __future__ import annotations

from jupyterhub import orm

from .policy import GroupPolicy, policy_of


def member_groups(orm_user) -> list:
    """The user's groups, sorted by name."""
    return sorted(orm_user.groups, key=lambda g: g.name)


def find_group(db, name: str):
    return orm.Group.find(db, name)


def is_member(orm_user, group_name: str) -> bool:
    return any(g.name == group_name for g in orm_user.groups)


def group_policy(group) -> GroupPolicy:
    """The group's policy, parsed once per loaded properties document."""
    properties = group.properties
    cached = getattr(group, "_hubfront_policy", None)
    if cached is not None and cached[0] is properties:
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
