"""Invitations: links that let people join a group, with an expiry and a use limit.

The token is ``secrets.token_urlsafe(32)``; only its SHA-256 is stored (a
256-bit random token needs no slow hash), so the link is shown once, when it is
created. Using a link is one conditional UPDATE, so concurrent sign-ups can
never exceed ``max_uses``.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ...keys import token_digest
from ...store import session_scope
from ...store.models import utcnow
from ...store.models_accounts import Invitation, InvitationUse
from ...times import utc

DEFAULT_DAYS = 7
MAX_DAYS = 90
MAX_USES = 1000

# what the invitation page says for each state of a link that cannot be used
MESSAGES = {
    "unknown": "This invitation link is not valid.",
    "expired": "This invitation link has expired.",
    "revoked": "This invitation link has been revoked.",
    "used_up": "This invitation link has already been used the maximum number of times.",
}


class InvitationUnusable(Exception):
    def __init__(self, state: str):
        self.state = state
        super().__init__(MESSAGES[state])


_hash = token_digest




def parse_request(days, max_uses) -> tuple[dict, dict]:
    """Validate the Invite Users form: (values, errors per field)."""
    values, errors = {}, {}
    try:
        values["days"] = float(days if days not in (None, "") else DEFAULT_DAYS)
        if not 0 < values["days"] <= MAX_DAYS:
            raise ValueError
    except (TypeError, ValueError):
        errors["expires_days"] = f"must be a number of days between 0 and {MAX_DAYS}"
    try:
        values["max_uses"] = int(max_uses if max_uses not in (None, "") else 1)
        if not 1 <= values["max_uses"] <= MAX_USES:
            raise ValueError
    except (TypeError, ValueError):
        errors["max_uses"] = f"must be a whole number from 1 to {MAX_USES}"
    return values, errors


def create(db_url: str, group: str, created_by: str, days: float = DEFAULT_DAYS, max_uses: int = 1,
           now: datetime | None = None) -> tuple[dict, str]:
    """A new invitation and its token (the only time the token exists in plain text)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    with session_scope(db_url) as s:
        inv = Invitation(token_hash=_hash(token), group=group, created_by=created_by, created=now,
                         expires=now + timedelta(days=days), max_uses=max_uses, uses=0, revoked=False)
        s.add(inv)
        s.flush()
        return as_dict(inv, now), token


def state_of(inv: Invitation | None, now: datetime) -> str:
    if inv is None:
        return "unknown"
    if inv.revoked:
        return "revoked"
    if utc(inv.expires) <= now:
        return "expired"
    if inv.uses >= inv.max_uses:
        return "used_up"
    return "valid"


def as_dict(inv: Invitation, now: datetime | None = None) -> dict:
    return {"id": inv.id, "group": inv.group, "created_by": inv.created_by, "created": inv.created,
            "expires": utc(inv.expires), "max_uses": inv.max_uses, "uses": inv.uses,
            "revoked": inv.revoked, "state": state_of(inv, now or utcnow())}


def lookup(db_url: str, token: str, now: datetime | None = None) -> dict:
    """The invitation behind ``token`` if it can be used; else raise InvitationUnusable."""
    now = now or utcnow()
    with session_scope(db_url) as s:
        inv = s.scalar(select(Invitation).where(Invitation.token_hash == _hash(token or "")))
        state = state_of(inv, now)
        if state != "valid":
            raise InvitationUnusable(state)
        return as_dict(inv, now)


def consume(db_url: str, token: str, username: str, created_account: bool, now: datetime | None = None) -> dict:
    """Spend one use of the link for ``username``, atomically; raise InvitationUnusable if it cannot."""
    now = now or utcnow()
    with session_scope(db_url) as s:
        result = s.execute(
            update(Invitation)
            .where(Invitation.token_hash == _hash(token or ""), Invitation.revoked.is_(False),
                   Invitation.expires > now, Invitation.uses < Invitation.max_uses)
            .values(uses=Invitation.uses + 1)
        )
        if result.rowcount != 1:
            inv = s.scalar(select(Invitation).where(Invitation.token_hash == _hash(token or "")))
            raise InvitationUnusable(state_of(inv, now) if state_of(inv, now) != "valid" else "used_up")
        inv = s.scalar(select(Invitation).where(Invitation.token_hash == _hash(token)))
        s.add(InvitationUse(invitation_id=inv.id, username=username, created_account=created_account, used=now))
        return as_dict(inv, now)


def for_group(db_url: str, group: str, now: datetime | None = None) -> list[dict]:
    """The group's invitations, newest first."""
    now = now or utcnow()
    with session_scope(db_url) as s:
        rows = s.scalars(select(Invitation).where(Invitation.group == group).order_by(Invitation.id.desc())).all()
        return [as_dict(inv, now) for inv in rows]


def get(db_url: str, invitation_id: int) -> dict | None:
    with session_scope(db_url) as s:
        inv = s.get(Invitation, invitation_id)
        return as_dict(inv) if inv else None


def revoke(db_url: str, invitation_id: int) -> None:
    with session_scope(db_url) as s:
        inv = s.get(Invitation, invitation_id)
        if inv is not None:
            inv.revoked = True
