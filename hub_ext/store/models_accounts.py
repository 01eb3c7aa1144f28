"""Portal database models for accounts: profile, login throttle, TOTP, recovery codes, invitations.

The password itself stays in ``accounts`` (models.Account); everything here is
keyed by username so that it also works for OAuth users (profile) and for
usernames that have no account yet (the login throttle counts every attempt
alike, so its message never tells whether an account exists).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow


class Profile(Base):
    """What the user says about themselves on My Account."""

    __tablename__ = "account_profiles"

    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(64), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LoginState(Base):
    """What an admin decided about an account (temporary password, disabled).

    ``failures``/``locked_until``/``last_failure`` are no longer used (they were a hard lock):
    sign-ins and share links' passwords are throttled in :class:`LoginThrottleRow`. The columns
    stay so the table matches its migrations.
    """

    __tablename__ = "login_state"

    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_failure: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # set by an admin who creates the account with a temporary password
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    # set by an admin: the account may not sign in or use the hub until enabled again
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginThrottleRow(Base):
    """Consecutive failed sign-ins of one account, from one client address or (address "") from all.

    ``wait_until`` is when the next attempt is taken; a pair row with
    ``last_success`` is an address the account signed in from (its owner's),
    which the account-wide wait does not slow down.
    """

    __tablename__ = "login_throttle"

    account: Mapped[str] = mapped_column(String(255), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    wait_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_success: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class OtpCredential(Base):
    """A TOTP secret, Fernet-encrypted. ``enabled`` only after a confirmed code."""

    __tablename__ = "otp_credentials"

    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # the last accepted time step: a code of this step or earlier is refused
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RecoveryCode(Base):
    """A single-use recovery code, argon2-hashed."""

    __tablename__ = "otp_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(255), index=True)
    code_hash: Mapped[str] = mapped_column(Text)
    used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AccountSetting(Base):
    """Platform-wide account settings an admin changes from the portal (e.g. require 2FA)."""

    __tablename__ = "account_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Invitation(Base):
    """A link that lets people join a group; only the SHA-256 of its token is stored."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    group: Mapped[str] = mapped_column(String(255), index=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class InvitationUse(Base):
    """Who joined through which invitation, and when."""

    __tablename__ = "invitation_uses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invitation_id: Mapped[int] = mapped_column(Integer, index=True)
    username: Mapped[str] = mapped_column(String(255))
    created_account: Mapped[bool] = mapped_column(Boolean, default=False)
    used: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
