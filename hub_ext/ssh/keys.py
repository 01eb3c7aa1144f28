"""The SSH public keys each user registers (the SSH keys page and ``/hub/api/portal/me/ssh-keys``), and
the gateway's look-up of an offered key. No tornado here.

A key is taken only as one OpenSSH public-key line (``ssh-ed25519 AAAA… comment``, what ``ssh-keygen``
writes into ``id_ed25519.pub``), parsed by asyncssh: anything else is refused naming the field, never
stored. Each user's keys are unique by their SHA256 fingerprint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import asyncssh
from pydantic import Field
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ..bodies import BodyError, Strict
from ..store import read_scope, session_scope
from ..store.models import utcnow
from ..store.models_ssh import SSHKey
from ..times import iso, utc

NAME_MAX = 100
KEY_MAX = 16384  # an RSA key of 16384 bits is under 3 kB; certificates and junk stay out
MIN_RSA_BITS = 2048
MAX_KEYS = 50  # per user
# the one-line OpenSSH form: "<type> <base64>[ <comment>]"
_LINE = re.compile(r"(?P<type>[a-z0-9@.-]{3,64}) (?P<blob>[A-Za-z0-9+/]+={0,3})(?: (?P<comment>.*))?")
ACCEPTED = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
            "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
NOT_OPENSSH = "Public key: not an OpenSSH public key (paste one line of your id_ed25519.pub, e.g. ssh-ed25519 AAAA…)"


class SSHKeyAdd(Strict):
    """``POST /me/ssh-keys``: register a public key for the SSH gateway."""

    name: str = Field("", max_length=NAME_MAX, description="What the key is for (e.g. `laptop`); default: the "
                                                           "key's comment")
    public_key: str = Field(max_length=KEY_MAX, description="One OpenSSH public-key line, as in `~/.ssh/id_ed25519.pub`")


@dataclass(frozen=True)
class ParsedKey:
    key_type: str
    fingerprint: str  # SHA256:…
    line: str  # "<type> <base64>"
    comment: str


@dataclass(frozen=True)
class KeyView:
    id: int
    name: str
    key_type: str
    fingerprint: str
    added: datetime
    last_used: datetime | None

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "type": self.key_type, "fingerprint": self.fingerprint,
                "added": iso(self.added), "last_used": iso(self.last_used) if self.last_used else None}


def _view(row: SSHKey) -> KeyView:
    return KeyView(row.id, row.name, row.key_type, row.fingerprint, utc(row.created), utc(row.last_used))


def parse_key(text: str) -> ParsedKey:
    """The key in ``text`` (one OpenSSH line), or BodyError naming the field in plain words."""
    line = text.strip()
    match = _LINE.fullmatch(line) if "\n" not in line and "\r" not in line else None
    if not line:
        raise BodyError({"public_key": "Public key: paste your public key (the line of your id_ed25519.pub)"})
    if match is None:
        if "PRIVATE KEY" in line:
            raise BodyError({"public_key": "Public key: this is a private key; paste the public one (the .pub "
                                           "file) and keep the private key to yourself"})
        raise BodyError({"public_key": NOT_OPENSSH})
    key_type = match["type"]
    if key_type == "ssh-dss":
        raise BodyError({"public_key": "Public key: DSA keys are not accepted; make an ed25519 key "
                                       "(ssh-keygen -t ed25519)"})
    if "-cert-" in key_type:
        raise BodyError({"public_key": "Public key: certificates are not accepted; paste the key itself"})
    if key_type not in ACCEPTED:
        raise BodyError({"public_key": f"Public key: {key_type} keys are not accepted (use ed25519, ECDSA or RSA)"})
    try:
        key = asyncssh.import_public_key(f"{key_type} {match['blob']}")
    except (asyncssh.KeyImportError, ValueError, TypeError):
        raise BodyError({"public_key": NOT_OPENSSH}) from None
    if key.get_algorithm() != key_type:
        raise BodyError({"public_key": f"Public key: the key says {key.get_algorithm()}, not {key_type}"})
    bits = getattr(getattr(key, "pyca_key", None), "key_size", None)
    if key_type == "ssh-rsa" and bits is not None and bits < MIN_RSA_BITS:
        raise BodyError({"public_key": f"Public key: RSA keys need at least {MIN_RSA_BITS} bits (this one has "
                                       f"{bits}); make an ed25519 key (ssh-keygen -t ed25519)"})
    line = key.export_public_key("openssh").decode().split()[:2]
    return ParsedKey(key_type, key.get_fingerprint("sha256"), " ".join(line), (match["comment"] or "").strip())


def list_keys(db_url: str, username: str) -> list[KeyView]:
    with read_scope(db_url) as s:
        rows = s.scalars(select(SSHKey).where(SSHKey.username == username).order_by(SSHKey.id)).all()
        return [_view(r) for r in rows]


def add_key(db_url: str, username: str, body: SSHKeyAdd) -> KeyView:
    """Register the key; BodyError (400) naming the field when it is not one, or is there already."""
    parsed = parse_key(body.public_key)
    name = body.name.strip() or parsed.comment[:NAME_MAX].strip()
    if not name:
        raise BodyError({"name": "Name: enter a name for the key (e.g. laptop)"})
    if any(ord(c) < 32 for c in name):
        raise BodyError({"name": "Name: use one line of text"})
    try:
        with session_scope(db_url) as s:
            rows = s.scalars(select(SSHKey).where(SSHKey.username == username)).all()
            same = next((r for r in rows if r.fingerprint == parsed.fingerprint), None)
            if same is not None:
                raise BodyError({"public_key": f"Public key: you added this key already (as {same.name})"})
            if len(rows) >= MAX_KEYS:
                raise BodyError({"public_key": f"Public key: you have {MAX_KEYS} keys, the most there may be; "
                                               "remove one first"})
            row = SSHKey(username=username, name=name, key_type=parsed.key_type, fingerprint=parsed.fingerprint,
                         public_key=parsed.line, created=utcnow())
            s.add(row)
            s.flush()
            return _view(row)
    except IntegrityError:  # the same key added twice at once
        raise BodyError({"public_key": "Public key: you added this key already"}) from None


def remove_key(db_url: str, username: str, key_id: int) -> KeyView | None:
    """Remove one of ``username``'s keys; None when they have no such key."""
    with session_scope(db_url) as s:
        row = s.scalars(select(SSHKey).where(SSHKey.id == key_id, SSHKey.username == username)).first()
        if row is None:
            return None
        view = _view(row)
        s.execute(delete(SSHKey).where(SSHKey.id == key_id))
        return view


def authorized(db_url: str, username: str) -> dict[str, int]:
    """``{"<type> <base64>": key id}`` of ``username``'s keys (what the gateway accepts for them)."""
    with read_scope(db_url) as s:
        return {line: key_id for line, key_id in s.execute(
            select(SSHKey.public_key, SSHKey.id).where(SSHKey.username == username))}


def key_line(key: asyncssh.SSHKey) -> str:
    """``"<type> <base64>"`` of a key a client offers, as :func:`authorized` lists them."""
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


def mark_used(db_url: str, key_id: int, when: datetime | None = None) -> None:
    with session_scope(db_url) as s:
        s.execute(update(SSHKey).where(SSHKey.id == key_id).values(last_used=when or utcnow()))
