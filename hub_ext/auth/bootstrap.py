"""First-start set-up of the embedded default: the admin account and demo groups."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from jupyterhub import orm

from ..field_messages import field_messages
from ..policy import GroupPolicy, PolicyError, properties_with
from .passwords import account_exists, set_password


def ensure_admin_account(db_url: str, data_dir: str, username: str, password: str | None) -> str | None:
    """Create the bootstrap admin's account once.

    The password comes from ``password`` (HUBFRONT_ADMIN_PASSWORD), else it is
    generated, printed once and written to ``<data>/admin-password`` (0600).
    Returns the generated password, or None when nothing was generated.
    """
    if account_exists(db_url, username):
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
        path = Path(data_dir) / "admin-password"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        os.chmod(path, 0o600)
        print(
            f"\n  Hubfront admin account created: user {username!r}, password {password}\n"
            f"  (also written to {path}; change it after the first login)\n",
            file=sys.stderr,
            flush=True,
        )
    set_password(db_url, username, password)
    return generated


def seed_groups(db, groups: dict, log=None) -> list[str]:
    """Create the configured groups that do not exist yet; never overwrite one.

    ``groups`` maps a group name to ``{"members": [...], "policy": {...}}``.
    Returns the names of the groups created.
    """
    created = []
    for name, spec in (groups or {}).items():
        if orm.Group.find(db, name) is not None:
            continue
        spec = spec or {}
        try:
            policy = GroupPolicy.model_validate(spec.get("policy") or {})
        except Exception as exc:  # pydantic.ValidationError
            errors = field_messages(exc) if hasattr(exc, "errors") else {"policy": str(exc)}
            raise PolicyError({f"groups.{name}.{k}": v for k, v in errors.items()}) from None
        group = orm.Group(name=name, properties=properties_with({}, policy))
        db.add(group)
        for username in spec.get("members", []) or []:
            user = orm.User.find(db, username)
            if user is None:
                user = orm.User(name=username)
                db.add(user)
            group.users.append(user)
        created.append(name)
        if log:
            log.info("Hubfront: created group %s", name)
    db.commit()
    return created
