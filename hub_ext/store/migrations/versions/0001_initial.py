"""accounts, group context and the ledger's reservations

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "group_context",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("workload_id", sa.String(255), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("cpu", sa.Float, nullable=False),
        sa.Column("memory", sa.BigInteger, nullable=False),
        sa.Column("gpu", sa.Integer, nullable=False),
        sa.Column("gpu_devices", sa.String(255), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "workload_id", name="uq_reservation_workload"),
    )
    op.create_index("ix_reservations_group", "reservations", ["group"])
    op.create_index("ix_reservations_username", "reservations", ["username"])


def downgrade() -> None:
    op.drop_table("reservations")
    op.drop_table("group_context")
    op.drop_table("accounts")
