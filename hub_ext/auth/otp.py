"""TOTP two-factor authentication (pyotp) and single-use recovery codes (argon2).

Enrollment is two steps: ``begin_enrollment`` stores a fresh, encrypted 160-bit
secret that is not yet enabled; ``confirm_enrollment`` enables it once the user
proves it with a code, and returns the recovery codes, the only time they exist
in plain text. A code is accepted for the current time step and one step either
side, and only for a step later than the last one used, so a code cannot be
replayed.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from ..store import session_scope
from ..store.models import utcnow
from ..store.models_accounts import OtpCredential, RecoveryCode
from ..keys import decrypt, encrypt

RECOVERY_CODES = 10
VALID_WINDOW = 1  # steps either side of now
# Recovery codes carry 64 random bits, so a light argon2 setting is plenty and
# keeps checking ten of them quick.
_hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@dataclass(frozen=True)
class Enrollment:
    secret: str  # base32, shown as text beside the QR code
    uri: str  # otpauth:// provisioning URI
    qr_svg: str  # inline SVG of the URI


def new_secret() -> str:
    """160 random bits as 32 base32 characters (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def qr_svg(uri: str) -> str:
    return segno.make(uri, error="m").svg_inline(scale=4, border=2)


def enrollment_for(secret: str, username: str, issuer: str) -> Enrollment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)
    return Enrollment(secret=secret, uri=uri, qr_svg=qr_svg(uri))


def matching_step(secret: str, code: str, now: float | None = None, window: int = VALID_WINDOW) -> int | None:
    """The time step whose code equals ``code`` within ±window steps, else None."""
    code = (code or "").strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if now is None else now
    step = int(now) // totp.interval
    for candidate in range(step - window, step + window + 1):
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def _credential(s, username):
    return s.get(OtpCredential, username)


def is_enabled(db_url: str, username: str) -> bool:
    with session_scope(db_url) as s:
        cred = _credential(s, username)
        return bool(cred and cred.enabled)


def begin_enrollment(db_url: str, key: bytes, username: str, issuer: str) -> Enrollment:
    """A fresh secret for ``username`` (replacing any unconfirmed one). Refused if 2FA is on."""
    secret = new_secret()
    with session_scope(db_url) as s:
        cred = _credential(s, username)
        if cred is not None and cred.enabled:
            raise ValueError("two-factor authentication is already enabled")
        if cred is None:
            cred = OtpCredential(username=username, enabled=False, last_step=0, created=utcnow())
            s.add(cred)
        cred.secret_encrypted = encrypt(key, secret)
        cred.created = utcnow()
    return enrollment_for(secret, username, issuer)


def pending_enrollment(db_url: str, key: bytes, username: str, issuer: str) -> Enrollment | None:
    """The unconfirmed enrollment in progress, to show the same QR code again."""
    with session_scope(db_url) as s:
        cred = _credential(s, username)
        if cred is None or cred.enabled:
            return None
        secret = decrypt(key, cred.secret_encrypted)
    return enrollment_for(secret, username, issuer) if secret else None


def _new_recovery_codes(s, username: str) -> list[str]:
    s.execute(delete(RecoveryCode).where(RecoveryCode.username == username))
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    for code in codes:
        s.add(RecoveryCode(username=username, code_hash=_hasher.hash(code)))
    return codes


def confirm_enrollment(db_url: str, key: bytes, username: str, code: str, now: float | None = None) -> list[str] | None:
    """Enable 2FA if ``code`` matches the pending secret; return the recovery codes (shown once)."""
    with session_scope(db_url) as s:
        cred = _credential(s, username)
        if cred is None or cred.enabled:
            return None
        secret = decrypt(key, cred.secret_encrypted)
        step = matching_step(secret, code, now) if secret else None
        if step is None:
            return None
        cred.enabled = True
        cred.last_step = step
        return _new_recovery_codes(s, username)


def verify_code(db_url: str, key: bytes, username: str, code: str, now: float | None = None) -> bool:
    """Check a login code: a TOTP of a fresh time step, or an unused recovery code.

    The accepted step is recorded (or the recovery code spent) in the same
    transaction, so the same code never works twice.
    """
    code = (code or "").strip()
    if not code:
        return False
    with session_scope(db_url) as s:
        cred = s.get(OtpCredential, username, with_for_update=True)
        if cred is None or not cred.enabled:
            return False
        secret = decrypt(key, cred.secret_encrypted)
        step = matching_step(secret, code, now) if secret else None
        if step is not None:
            if step <= cred.last_step:
                return False  # replay of a code already used
            cred.last_step = step
            return True
        return _spend_recovery_code(s, username, code)


def _spend_recovery_code(s, username: str, code: str) -> bool:
    code = code.lower().replace(" ", "")
    rows = s.scalars(
        select(RecoveryCode).where(RecoveryCode.username == username, RecoveryCode.used.is_(None))
    ).all()
    for row in rows:
        try:
            _hasher.verify(row.code_hash, code)
        except (VerificationError, InvalidHashError):
            continue
        row.used = utcnow()
        return True
    return False


def recovery_codes_left(db_url: str, username: str) -> int:
    with session_scope(db_url) as s:
        return len(s.scalars(select(RecoveryCode.id).where(
            RecoveryCode.username == username, RecoveryCode.used.is_(None))).all())


def disable(db_url: str, username: str) -> None:
    """Turn 2FA off and forget the secret and the recovery codes (also an admin's reset)."""
    with session_scope(db_url) as s:
        s.execute(delete(OtpCredential).where(OtpCredential.username == username))
        s.execute(delete(RecoveryCode).where(RecoveryCode.username == username))
