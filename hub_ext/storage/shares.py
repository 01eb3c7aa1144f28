"""Share links to a file or folder of a group's storage (no tornado here).

A link carries a random token of 128 bits (``secrets.token_urlsafe(16)``), shown once
to whoever makes it; the database keeps only its sha256 digest, so a copy of the
database opens nothing. A link may expire and may ask for a password (kept as an
argon2 hash, like account passwords). It serves read-only, to anyone who has it,
until it is revoked or expires; from then on it answers 410 with the reason.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import Field, field_validator
from sqlalchemy import select, update

from .. import activity
from ..keys import token_digest
from ..bodies import BodyError, Strict
from ..store import read_scope, session_scope
from ..store.models import utcnow
from ..store.models_storage import Share
from ..times import iso, utc

TOKEN_BYTES = 16  # 128 random bits
# what token_urlsafe(16) makes (22 characters); anything else is no token of ours
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{22}$")
PASSWORD_MAX = 128
_hasher = PasswordHasher()
# verified against when a link has no hash, so that every password check costs the same
_DUMMY_HASH = _hasher.hash("hubfront-share-timing-equaliser")




def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class ShareCreate(Strict):
    """``POST /groups/{group}/shares``: a read-only link to a file or folder of the group's storage."""

    path: str = Field(max_length=4096, description="The file or folder, relative to the group's storage "
                                                   "(`\"\"` is the whole tree)")
    expires: datetime | None = Field(default=None, strict=False,
                                     description="When the link stops working (ISO 8601; without a zone: "
                                                 "UTC); default: never")
    password: str | None = Field(default=None, min_length=1, max_length=PASSWORD_MAX,
                                 description="Asked of whoever opens the link; default: none")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        from .paths import clean

        return clean(value)  # BadPath is a ValueError: its message names the problem

    @field_validator("expires")
    @classmethod
    def _expires(cls, value: datetime | None) -> datetime | None:
        try:
            value = utc(value)
        except OverflowError:  # year 9999 with a zone behind UTC, year 1 ahead of it
            raise ValueError("out of range") from None
        if value is not None and value <= datetime.now(timezone.utc):
            raise ValueError("must be in the future")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        if value is not None:
            value.encode("utf-8")  # a lone surrogate is no text: UnicodeEncodeError, a ValueError
        return value


def state(share: Share, now: datetime | None = None) -> str:
    """``active``, ``revoked`` or ``expired``."""
    if share.revoked is not None:
        return "revoked"
    expires = utc(share.expires)
    if expires is not None and expires <= (now or datetime.now(timezone.utc)):
        return "expired"
    return "active"


def gone_message(share: Share, zone=timezone.utc) -> str:
    """What a revoked or expired link's page says."""
    if share.revoked is not None:
        return "This share link was revoked."
    when = utc(share.expires).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    return f"This share link expired on {when}."


def password_matches(share: Share, password: str) -> bool:
    """Whether ``password`` opens the link (argon2; a link without a password opens with none)."""
    try:
        _hasher.verify(share.password_hash or _DUMMY_HASH, password[:PASSWORD_MAX])
    except (VerificationError, InvalidHashError):
        return False
    return bool(share.password_hash)


def password_mark(share: Share) -> str:
    """A short mark of the link and its password, kept in the signed cookie of those who typed it:
    another link, or a link whose password changed, does not take the cookie."""
    return f"{share.id}:{hashlib.sha256(share.password_hash.encode()).hexdigest()[:16]}"


def as_json(share: Share) -> dict:
    return {"id": share.id, "group": share.group, "username": share.username, "path": share.path,
            "expires": iso(share.expires), "revoked": iso(share.revoked), "created": iso(share.created),
            "password": bool(share.password_hash), "downloads": share.downloads, "state": state(share)}




class ShareStore:
    """The ``shares`` table: make, list, revoke, find by token, count downloads."""

    def __init__(self, db_url: str, hub_prefix: str = "/hub/"):
        self.db_url = db_url
        self.hub_prefix = hub_prefix

    def link(self, token: str) -> str:
        """The link's path on this hub (the page makes it absolute)."""
        return f"{self.hub_prefix}share/{token}"

    def create(self, group: str, username: str, body: ShareCreate, kind: str) -> tuple[Share, str]:
        """A new link to ``body.path`` (a ``kind``, "file" or "folder", that the caller found there)
        and its token, returned this once."""
        token = new_token()
        share = Share(group=group, username=username, path=body.path, token_digest=token_digest(token),
                      password_hash=_hasher.hash(body.password) if body.password else "",
                      expires=body.expires, revoked=None, downloads=0, created=utcnow())
        with session_scope(self.db_url) as s:
            s.add(share)
        extras = [e for e in ("password" if body.password else "",
                              f"expires {body.expires:%Y-%m-%d %H:%M} UTC" if body.expires else "") if e]
        self._record(share, "share-created", f"Share link to the {kind} /{share.path} created by {username}"
                     + (f" ({', '.join(extras)})" if extras else ""))
        return share, token

    def list(self, group: str) -> list[Share]:
        """The group's links, newest first, revoked and expired ones too (they say so)."""
        with read_scope(self.db_url) as s:
            return list(s.scalars(select(Share).where(Share.group == group).order_by(Share.id.desc())))

    def get(self, group: str, share_id: int) -> Share | None:
        with read_scope(self.db_url) as s:
            share = s.get(Share, share_id)
        return share if share is not None and share.group == group else None

    def revoke(self, group: str, share_id: int, by: str) -> Share | None:
        """Revoke the group's link (None: no such link in the group); revoking twice changes nothing."""
        with session_scope(self.db_url) as s:
            done = s.execute(update(Share).where(Share.id == share_id, Share.group == group,
                                                 Share.revoked.is_(None)).values(revoked=utcnow())).rowcount
        share = self.get(group, share_id)
        if done and share is not None:
            self._record(share, "share-revoked", f"Share link to /{share.path} revoked by {by}", username=by)
        return share

    def find(self, token: str) -> Share | None:
        """The link a token opens (whatever its state), or None."""
        if not TOKEN_SHAPE.match(token or ""):
            return None
        with read_scope(self.db_url) as s:
            return s.scalars(select(Share).where(Share.token_digest == token_digest(token))).first()

    def count_download(self, share: Share) -> None:
        with session_scope(self.db_url) as s:
            s.execute(update(Share).where(Share.id == share.id).values(downloads=Share.downloads + 1))

    def _record(self, share: Share, action: str, message: str, username: str | None = None) -> None:
        activity.record(self.db_url, username=username or share.username, group=share.group, kind="share",
                        action=action, status="ok", message=message, workload_id=str(share.id),
                        link=f"{self.hub_prefix}portal/files")


def refuse_missing(path: str) -> BodyError:
    return BodyError({"path": f"no such file or folder: /{path}"})
