"""Folder invitations in the portal DB (table ``folder_invitations``): who shares which folder
with whom, with which permission, and where the invitation stands.

States: ``pending`` (sent) -> ``accepted`` | ``declined`` (by the invitee) | ``revoked``
(by the owner); ``accepted`` -> ``left`` (invitee) | ``revoked`` (owner). Only a
pending or accepted invitation is *live*: one live invitation per (owner, folder,
invitee), a declined, revoked or left one may be followed by a new one. The
owner may change the permission of a live invitation. No tornado here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from ..store import read_scope, session_scope
from ..store.engine import read_connection
from ..store.models import utcnow
from ..store.models_storage import FOLDER_PERMISSIONS, FolderInvitation
from ..times import utc

LIVE = ("pending", "accepted")
PERMISSION_TITLES = {"ro": "read-only", "rw": "read-write", "rwd": "read-write-delete"}
assert set(PERMISSION_TITLES) == set(FOLDER_PERMISSIONS)


class InvitationError(ValueError):
    """A refused request, naming the field at fault (answered with 400)."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


class Conflict(InvitationError):
    """The request clashes with the invitation's state or a live invitation (409)."""


class NotFound(LookupError):
    """No such invitation, or none the caller may see (404)."""


@dataclass(frozen=True)
class Invitation:
    id: int
    owner: str
    folder: str
    invitee: str
    permission: str
    state: str
    created: datetime
    updated: datetime

    @property
    def live(self) -> bool:
        return self.state in LIVE

    @property
    def permission_title(self) -> str:
        return PERMISSION_TITLES[self.permission]

    def as_json(self) -> dict:
        return {"id": self.id, "owner": self.owner, "folder": self.folder, "invitee": self.invitee,
                "permission": self.permission, "state": self.state,
                "created": self.created.isoformat(), "updated": self.updated.isoformat()}




def _row(r: FolderInvitation) -> Invitation:
    return Invitation(r.id, r.owner, r.folder, r.invitee, r.permission, r.state, utc(r.created), utc(r.updated))


def check_permission(permission: str) -> str:
    if permission not in FOLDER_PERMISSIONS:
        raise InvitationError("permission", f"must be one of {', '.join(FOLDER_PERMISSIONS)}")
    return permission


def create(db_url: str, owner: str, folder: str, invitee: str, permission: str) -> Invitation:
    """A new pending invitation (the caller checked that the folder and the invitee exist)."""
    check_permission(permission)
    if invitee == owner:
        raise InvitationError("invitee", "you cannot invite yourself")
    with session_scope(db_url) as s:
        live = s.scalar(select(FolderInvitation).where(
            FolderInvitation.owner == owner, FolderInvitation.folder == folder,
            FolderInvitation.invitee == invitee, FolderInvitation.state.in_(LIVE)))
        if live is not None:
            raise Conflict("invitee", f"{invitee} already has a {live.state} invitation to {folder}")
        row = FolderInvitation(owner=owner, folder=folder, invitee=invitee, permission=permission, state="pending")
        s.add(row)
        s.flush()
        return _row(row)


def get(db_url: str, invitation_id: int) -> Invitation | None:
    with read_scope(db_url) as s:
        row = s.get(FolderInvitation, invitation_id)
        return _row(row) if row else None


def visible(db_url: str, invitation_id: int, username: str) -> Invitation:
    """The invitation if ``username`` is its owner or invitee; NotFound otherwise."""
    found = get(db_url, invitation_id)
    if found is None or username not in (found.owner, found.invitee):
        raise NotFound(invitation_id)
    return found


def sent(db_url: str, owner: str, folder: str | None = None, live_only: bool = True) -> list[Invitation]:
    """The owner's invitations (of one folder), oldest first."""
    q = select(FolderInvitation).where(FolderInvitation.owner == owner)
    if folder is not None:
        q = q.where(FolderInvitation.folder == folder)
    if live_only:
        q = q.where(FolderInvitation.state.in_(LIVE))
    with read_scope(db_url) as s:
        return [_row(r) for r in s.scalars(q.order_by(FolderInvitation.id))]


_INVITATIONS = FolderInvitation.__table__
_RECEIVED = (  # plain rows, the statement built once: the home page asks on every view
    select(_INVITATIONS).where(_INVITATIONS.c.invitee == bindparam("invitee"),
                               _INVITATIONS.c.state.in_(bindparam("states", expanding=True)))
    .order_by(_INVITATIONS.c.id))


def received(db_url: str, invitee: str, states: tuple[str, ...] = LIVE) -> list[Invitation]:
    """Invitations to ``invitee`` in ``states``, oldest first."""
    with read_connection(db_url) as conn:
        return [_row(r) for r in conn.execute(_RECEIVED, {"invitee": invitee, "states": list(states)})]


def transition(db_url: str, invitation_id: int, actor: str, action: str, permission: str | None = None
               ) -> tuple[Invitation, Invitation]:
    """Apply ``action`` (accept, decline, leave: the invitee; revoke, permission: the owner).

    Returns (before, after). NotFound for an invitation the actor is no party to, InvitationError
    (403-ish: raised as Conflict) when the action does not fit the state or the actor's role.
    """
    with session_scope(db_url) as s:
        row = s.get(FolderInvitation, invitation_id, with_for_update=True)
        if row is None or actor not in (row.owner, row.invitee):
            raise NotFound(invitation_id)
        before = _row(row)
        by_owner = action in ("revoke", "permission")
        if (row.owner if by_owner else row.invitee) != actor:
            who = "owner" if by_owner else "invitee"
            raise PermissionError(f"only the invitation's {who} may {action if action != 'permission' else 'change the permission'}")
        allowed = {"accept": ("pending",), "decline": ("pending",), "leave": ("accepted",),
                   "revoke": LIVE, "permission": LIVE}[action]
        if row.state not in allowed:
            raise Conflict("state", f"the invitation is {row.state}; cannot {action}")
        if action == "permission":
            row.permission = check_permission(permission or "")
        else:
            row.state = {"accept": "accepted", "decline": "declined", "leave": "left", "revoke": "revoked"}[action]
        row.updated = utcnow()
        s.flush()
        return before, _row(row)

