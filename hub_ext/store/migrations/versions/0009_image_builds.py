"""image builds of group images and their logs (issue 13)

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_builds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("image", sa.String(63), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("base", sa.String(63), nullable=False),
        sa.Column("packages", sa.Text, nullable=False),
        sa.Column("ref", sa.String(512), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("handle", sa.String(512), nullable=False),
        sa.Column("log_size", sa.BigInteger, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("group", "image", "number", name="uq_image_build_number"),
    )
    op.create_index("ix_image_builds_phase", "image_builds", ["phase"])
    op.create_index("ix_image_builds_group_image", "image_builds", ["group", "image"])
    op.create_table(
        "image_build_log_chunks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("build_id", sa.Integer, sa.ForeignKey("image_builds.id", ondelete="CASCADE"), nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_image_build_log_chunks_build_id", "image_build_log_chunks", ["build_id"])


def downgrade() -> None:
    op.drop_table("image_build_log_chunks")
    op.drop_table("image_builds")
