"""Portal admin for users: list, create with a temporary password, group memberships,
hub admin, set group admins, and the account operations of ``hubfront accounts``
(auth.accounts: reset password, clear failed sign-ins, reset 2FA, disable). Also the new-account
checks shared with invitation sign-up. Every change made here is an activity.

No tornado here; ``db`` is the hub's SQLAlchemy session (users, groups) and
``db_url`` the portal database (accounts, the sign-in throttle, 2FA).
"""

from __future__ import annotations

import re

from jupyterhub import orm
from jupyterhub.roles import assign_default_roles
from sqlalchemy import select

from ... import activity, context
from ...auth import accounts
from ...auth.accounts import create_account  # noqa: F401  (invitation sign-up creates accounts too)
from ...auth.passwords import account_exists, rule_errors
from ...auth.throttle import LoginThrottle
from ...groups import find_group, group_policy, is_member
from ...policy import properties_with
from ...store import session_scope
from ...store.models import Account
from ...store.models_accounts import LoginState, OtpCredential, Profile

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
USERNAME_RULE = "use 1 to 32 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"


def new_account_errors(db, db_url: str, username: str, password: str) -> dict:
    """Errors per field for a new local account (empty: it may be created)."""
    errors = {}
    if not USERNAME.match(username or ""):
        errors["username"] = USERNAME_RULE
    elif account_exists(db_url, username) or orm.User.find(db, username) is not None:
        errors["username"] = "is already taken"
    message = rule_errors(password or "", username or "")
    if message:
        errors["password"] = message
    return errors


def join_group(db, orm_user, group_name: str, db_url: str | None = None) -> bool:
    """Add the user to the group; False if already a member. With the portal's ``db_url``, the group the
    user works in stays so (:func:`hub_ext.context.keep_focus`): joining never switches it."""
    group = find_group(db, group_name)
    if group is None:
        raise LookupError(group_name)
    if is_member(orm_user, group_name):
        return False
    if db_url is not None:
        context.keep_focus(db_url, orm_user.name, [g.name for g in orm_user.groups])
    group.users.append(orm_user)
    db.commit()
    return True


def leave_group(db, orm_user, group_name: str) -> None:
    """Take the user out of the group, and off its admins."""
    group = find_group(db, group_name)
    if group is None:
        raise LookupError(group_name)
    if not is_member(orm_user, group_name):
        raise ValueError(f"{orm_user.name} is not a member of {group_name}")
    group.users.remove(orm_user)
    policy = group_policy(group)
    if orm_user.name in policy.admins:
        policy = policy.model_copy(update={"admins": [a for a in policy.admins if a != orm_user.name]})
        group.properties = properties_with(group.properties, policy)
    db.commit()


def set_admin(db, orm_user, admin: bool) -> None:
    """Make the user a hub admin or not, with JupyterHub's admin role to match."""
    orm_user.admin = admin
    assign_default_roles(db, entity=orm_user)
    db.commit()


def record(db_url: str, *, actor: str, username: str, action: str, message: str, group: str | None = None) -> None:
    """An administrator's change to an account, in the user's activity record."""
    activity.record(db_url, username=username, group=group, kind="account", action=action,
                    message=f"{message} (by {actor})")


def unlock(db_url: str, *, actor: str, username: str) -> None:
    """Clear ``username``'s failed sign-ins, recorded as ``actor``'s change (page and API alike)."""
    accounts.unlock(db_url, username)
    record(db_url, actor=actor, username=username, action="unlocked", message=f"Failed sign-ins of {username} cleared")


def reset_2fa(db_url: str, *, actor: str, username: str) -> None:
    """Reset ``username``'s two-factor authentication, recorded as ``actor``'s change (page and API alike)."""
    accounts.reset_2fa(db_url, username)
    record(db_url, actor=actor, username=username, action="2FA reset",
           message=f"Two-factor authentication of {username} reset")


def listing(db, db_url: str, throttle: LoginThrottle | None = None) -> list[dict]:
    """Every hub user with what the admin page shows about their account.

    ``failures``: failed sign-ins in a row (all addresses); ``slowed_until``: until when some
    address must wait before its next attempt (the authenticator's throttle, for its settings)."""
    users = db.query(orm.User).order_by(orm.User.name).all()
    with session_scope(db_url) as s:
        local = set(s.scalars(select(Account.username)).all())
        otp_on = set(s.scalars(select(OtpCredential.username).where(OtpCredential.enabled.is_(True))).all())
        names = {p.username: p.full_name for p in s.scalars(select(Profile)).all()}
        states = {st.username: (bool(st.must_change_password), bool(st.disabled))
                  for st in s.scalars(select(LoginState)).all()}
    throttled = (throttle or LoginThrottle(db_url=db_url)).states()
    rows = []
    for u in users:
        must_change, disabled = states.get(u.name, (False, False))
        failed = throttled.get(u.name)
        rows.append({
            "name": u.name, "admin": bool(u.admin), "full_name": names.get(u.name, ""),
            "groups": sorted(g.name for g in u.groups), "local": u.name in local,
            "two_factor": u.name in otp_on, "failures": failed.failures if failed else 0,
            "slowed_until": failed.slowed_until if failed else None,
            "must_change": must_change, "disabled": disabled,
        })
    return rows


def groups_with_admins(db) -> list[dict]:
    return [
        {"name": g.name, "members": sorted(u.name for u in g.users), "admins": group_policy(g).admins}
        for g in db.query(orm.Group).order_by(orm.Group.name)
    ]


def set_group_admins(db, group_name: str, admins: list[str]) -> list[str]:
    """Make exactly ``admins`` (members of the group) its admins."""
    group = find_group(db, group_name)
    if group is None:
        raise LookupError(group_name)
    members = {u.name for u in group.users}
    outsiders = [a for a in admins if a not in members]
    if outsiders:
        raise ValueError(f"not members of {group_name}: {', '.join(outsiders)}")
    policy = group_policy(group).model_copy(update={"admins": sorted(set(admins))})
    group.properties = properties_with(group.properties, policy)
    db.commit()
    return policy.admins

