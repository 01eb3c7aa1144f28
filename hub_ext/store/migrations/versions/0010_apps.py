"""apps installed into groups and their logs (issue 13)

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("template", sa.String(63), nullable=False),
        sa.Column("template_version", sa.String(63), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("instance_type", sa.String(255), nullable=False),
        sa.Column("cpu", sa.Float, nullable=False),
        sa.Column("memory", sa.BigInteger, nullable=False),
        sa.Column("gpu", sa.Integer, nullable=False),
        sa.Column("env_encrypted", sa.Text, nullable=False),
        sa.Column("access", sa.String(8), nullable=False),
        sa.Column("stopped", sa.Boolean, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("running_revision", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("delete_requested", sa.Boolean, nullable=False),
        sa.Column("delete_data", sa.Boolean, nullable=False),
        sa.Column("log_size", sa.BigInteger, nullable=False),
        sa.Column("log_read", sa.BigInteger, nullable=False),
        sa.Column("endpoint", sa.String(255), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("group", "name", name="uq_app_group_name"),
    )
    op.create_index("ix_apps_group", "apps", ["group"])
    op.create_table(
        "app_log_chunks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("app_id", sa.Integer, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_app_log_chunks_app_id", "app_log_chunks", ["app_id"])


def downgrade() -> None:
    op.drop_table("app_log_chunks")
    op.drop_table("apps")
