"""License tokens: the vendor's Ed25519 keys, signing terms into a token, and checking one.

A license is a token signed by the vendor with Ed25519::

    HF1.<base64url(JSON terms)>.<base64url(signature over "HF1.<payload>")>

``hubfront license keygen`` / ``issue`` make keys and tokens (vendor side); the hub
holds only public keys (``hub_ext.license`` decides what a verified token allows).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..store.models import utcnow

log = logging.getLogger("hubfront.license")
PREFIX = "HF1."


@dataclass(frozen=True)
class LicenseTerms:
    licensed_to: str
    starts: datetime
    expires: datetime
    max_nodes: int
    max_deployments: int
    issued: datetime | None = None

    def as_json(self) -> dict:
        return {
            "licensed_to": self.licensed_to, "starts": self.starts.isoformat(),
            "expires": self.expires.isoformat(), "max_nodes": self.max_nodes,
            "max_deployments": self.max_deployments,
            "issued": self.issued.isoformat() if self.issued else None,
        }


class LicenseError(ValueError):
    """The token cannot be read or its signature does not hold."""


def parse_when(text: str) -> datetime:
    """An ISO date (midnight UTC) or datetime (naive means UTC)."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        dt = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"not an ISO date or datetime: {text!r}") from None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def keygen() -> tuple[bytes, str]:
    """A new vendor key pair: (private key PEM, public key as base64 of the raw bytes)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return pem, base64.b64encode(raw).decode()


def issue(private_pem: bytes, terms: LicenseTerms) -> str:
    """Sign ``terms`` with the vendor's private key (PEM) into a license token."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise LicenseError("the private key is not an Ed25519 key")
    data = terms.as_json()
    data["issued"] = (terms.issued or utcnow()).isoformat()
    payload = _b64e(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
    signature = key.sign((PREFIX + payload).encode())
    return f"{PREFIX}{payload}.{_b64e(signature)}"


def load_public_key(text: str) -> Ed25519PublicKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))


@lru_cache(maxsize=64)
def _verified(token: str, public_keys: tuple[str, ...]) -> LicenseTerms:
    token = "".join(token.split())
    if not token.startswith(PREFIX) or token.count(".") != 2:
        raise LicenseError("not a Hubfront license token")
    payload, _, sig = token[len(PREFIX):].partition(".")
    try:
        signature = _b64d(sig)
    except (binascii.Error, ValueError):
        raise LicenseError("not a Hubfront license token") from None
    keys = []
    for text in public_keys:
        try:
            keys.append(load_public_key(text))
        except (ValueError, binascii.Error):
            log.warning("Ignoring a configured license public key that cannot be read")
    if not keys:
        raise LicenseError("no public key is configured to verify licenses")
    for key in keys:
        try:
            key.verify(signature, (PREFIX + payload).encode())
            break
        except InvalidSignature:
            continue
    else:
        raise LicenseError("the signature does not match any configured public key")
    try:
        data = json.loads(_b64d(payload))
        return LicenseTerms(
            licensed_to=str(data.get("licensed_to") or ""),
            starts=parse_when(data["starts"]), expires=parse_when(data["expires"]),
            max_nodes=int(data["max_nodes"]), max_deployments=int(data["max_deployments"]),
            issued=parse_when(data["issued"]) if data.get("issued") else None,
        )
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise LicenseError("the signed terms cannot be read") from None
