"""The Fernet key that encrypts TOTP secrets at rest.

Where it comes from, first found wins: the ``secret_key`` config trait,
``$HUBFRONT_SECRET_KEY``, else ``<data_dir>/secret-key`` (generated on first use
with mode 0600, the embedded default). A value that is not already a Fernet key
is stretched into one with SHA-256, so an operator may use any long random string.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "secret-key"


def _as_fernet_key(value: str) -> bytes:
    raw = value.strip().encode()
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


def hub_key(data_dir: str, authenticator=None) -> bytes:
    """The platform's one key, for every process (hub, spawners, runner): the authenticator's ``secret_key``
    when one is configured, else ``$HUBFRONT_SECRET_KEY`` (the hub hands it to the runner), else the key
    in ``<data_dir>/secret-key`` (made 0600 on first use). Read once per process."""
    configured = (getattr(authenticator, "secret_key", "") or "") if authenticator is not None else ""
    return _cached(configured, os.environ.get("HUBFRONT_SECRET_KEY", ""), str(data_dir))


@functools.lru_cache(maxsize=8)
def _cached(configured: str, _env: str, data_dir: str) -> bytes:
    return load_key(configured, data_dir)


def load_key(configured: str, data_dir: str) -> bytes:
    """The Fernet key, creating ``<data_dir>/secret-key`` (0600) when nothing is configured."""
    value = configured or os.environ.get("HUBFRONT_SECRET_KEY", "")
    if value:
        return _as_fernet_key(value)
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key() + b"\n")
    os.chmod(path, 0o600)
    return _as_fernet_key(path.read_text())


def encrypt(key: bytes, plaintext: str) -> str:
    return Fernet(key).encrypt(plaintext.encode()).decode()


def decrypt(key: bytes, token: str) -> str | None:
    """The plaintext, or None when the key does not open it (a rotated key)."""
    try:
        return Fernet(key).decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def token_digest(token: str) -> str:
    """How high-entropy bearer tokens (invitations, deployment clients) are kept: their sha256.

    They carry 256 random bits, so a fast hash is safe (nothing to brute-force) and
    cheap enough to check on every request; passwords, which are guessable, use argon2.
    """
    return hashlib.sha256(token.encode()).hexdigest()
