"""accounts: profiles, lockout, TOTP credentials, recovery codes, settings, invitations

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "account_profiles",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("full_name", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("updated", TZ, nullable=False),
    )
    op.create_table(
        "login_state",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("locked_until", TZ, nullable=True),
        sa.Column("last_failure", TZ, nullable=True),
        sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "otp_credentials",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("secret_encrypted", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("last_step", sa.BigInteger, nullable=False),
        sa.Column("created", TZ, nullable=False),
    )
    op.create_table(
        "otp_recovery_codes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("code_hash", sa.Text, nullable=False),
        sa.Column("used", TZ, nullable=True),
    )
    op.create_index("ix_otp_recovery_codes_username", "otp_recovery_codes", ["username"])
    op.create_table(
        "account_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created", TZ, nullable=False),
        sa.Column("expires", TZ, nullable=False),
        sa.Column("max_uses", sa.Integer, nullable=False),
        sa.Column("uses", sa.Integer, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )
    op.create_index("ix_invitations_group", "invitations", ["group"])
    op.create_table(
        "invitation_uses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("invitation_id", sa.Integer, nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("created_account", sa.Boolean, nullable=False),
        sa.Column("used", TZ, nullable=False),
    )
    op.create_index("ix_invitation_uses_invitation_id", "invitation_uses", ["invitation_id"])


def downgrade() -> None:
    for table in ("invitation_uses", "invitations", "account_settings", "otp_recovery_codes",
                  "otp_credentials", "login_state", "account_profiles"):
        op.drop_table(table)
