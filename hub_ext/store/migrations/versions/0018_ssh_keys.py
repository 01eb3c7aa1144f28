"""SSH keys users register for the SSH gateway (issue 26)

Revision ID: 0018
Revises: 0017

``ssh_keys``: one row per key a user registered on the SSH keys page: its name, type, SHA256
fingerprint (unique per user), the OpenSSH public line, when it was added and last used to sign in.
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ssh_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_type", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(100), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("username", "fingerprint", name="uq_ssh_key_user_fingerprint"),
    )
    op.create_index("ix_ssh_keys_username", "ssh_keys", ["username"])


def downgrade() -> None:
    op.drop_index("ix_ssh_keys_username", table_name="ssh_keys")
    op.drop_table("ssh_keys")
