"""Local accounts with argon2-hashed passwords, kept in the portal database."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from ..store import session_scope
from ..store.models import Account, utcnow

_hasher = PasswordHasher()
# A real hash to verify against when the account does not exist, so that an
# unknown username costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("hubfront-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(db_url: str, username: str, password: str) -> bool:
    with session_scope(db_url) as s:
        stored = s.scalar(select(Account.password_hash).where(Account.username == username))
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None


def account_exists(db_url: str, username: str) -> bool:
    with session_scope(db_url) as s:
        return s.get(Account, username) is not None


def set_password(db_url: str, username: str, password: str) -> None:
    """Create the account or replace its password."""
    digest = hash_password(password)
    with session_scope(db_url) as s:
        account = s.get(Account, username)
        now = utcnow()
        if account is None:
            s.add(Account(username=username, password_hash=digest, created=now, password_changed=now))
        else:
            account.password_hash = digest
            account.password_changed = now
