"""SSH public keys users register for the SSH gateway (issue 26).

The schema is owned by migration ``0018``; times are stored in UTC. A key is stored as its OpenSSH public
line (``<type> <base64>``, without the comment) with its SHA256 fingerprint, unique per user.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow


class SSHKey(Base):
    __tablename__ = "ssh_keys"
    __table_args__ = (UniqueConstraint("username", "fingerprint", name="uq_ssh_key_user_fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_type: Mapped[str] = mapped_column(String(64))  # ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, ...
    fingerprint: Mapped[str] = mapped_column(String(100))  # SHA256:<base64>
    public_key: Mapped[str] = mapped_column(Text)  # "<type> <base64>"
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
