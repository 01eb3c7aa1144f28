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


# --- password rules -------------------------------------------------------
# Each rule has an id (used by the page's live checklist) and the message the
# server answers with when it is broken.
MIN_LENGTH = 8
MAX_LENGTH = 128
RULES = [
    ("length", f"must have at least {MIN_LENGTH} characters"),
    ("letter", "must contain at least one letter"),
    ("number", "must contain at least one number"),
    ("symbol", "must contain at least one symbol"),
    ("max", f"must have at most {MAX_LENGTH} characters"),
    ("username", "must differ from the username"),
    ("current", "must differ from the current password"),
]
RULE_MESSAGES = dict(RULES)


def broken_rules(password: str, username: str, current: str | None = None) -> list[str]:
    """The ids of the rules ``password`` breaks, in RULES order (empty: acceptable)."""
    broken = []
    if len(password) < MIN_LENGTH:
        broken.append("length")
    if not any(ch.isalpha() for ch in password):
        broken.append("letter")
    if not any(ch.isdigit() for ch in password):
        broken.append("number")
    if not any(not ch.isalnum() and not ch.isspace() for ch in password):
        broken.append("symbol")
    if len(password) > MAX_LENGTH:
        broken.append("max")
    if username and password.casefold() == username.casefold():
        broken.append("username")
    if current is not None and password == current:
        broken.append("current")
    return broken


def rule_errors(password: str, username: str, current: str | None = None) -> str | None:
    """One sentence naming every broken rule, or None."""
    broken = broken_rules(password, username, current)
    if not broken:
        return None
    return "new password " + "; ".join(RULE_MESSAGES[r] for r in broken)
