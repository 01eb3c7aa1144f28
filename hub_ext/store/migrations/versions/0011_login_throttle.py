"""login throttle: failed sign-ins per (account, client address) and per account (issue 20)

Revision ID: 0011
Revises: 0010

The hard lock of ``login_state`` stays for share links; a lock an old hub set
on an account is lifted here, since sign-ins no longer read it.
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("account", sa.String(255), primary_key=True),
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure", TZ, nullable=True),
        sa.Column("wait_until", TZ, nullable=True),
        sa.Column("last_success", TZ, nullable=True),
    )
    op.create_index("ix_login_throttle_last_failure", "login_throttle", ["last_failure"])
    op.execute("UPDATE login_state SET failures = 0, locked_until = NULL "
               "WHERE username NOT LIKE 'share link #%'")


def downgrade() -> None:
    op.drop_index("ix_login_throttle_last_failure", table_name="login_throttle")
    op.drop_table("login_throttle")
