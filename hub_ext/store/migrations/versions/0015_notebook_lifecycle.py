"""notebooks' lifecycle: what the idle culler saw of each server, and its passes (issue 25)

Revision ID: 0015
Revises: 0014

``notebook_idle`` has one row per running notebook server (user, server name): when it started, its last
activity the hub saw, its recent CPU/GPU use where measured, since when it is idle, when it will be
stopped and why, and how often its owner said "Keep running". ``lifecycle_passes`` keeps the culler's
recent passes for Maintenance.
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notebook_idle",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("server_name", sa.String(255), primary_key=True),
        sa.Column("group", sa.String(255), nullable=False, server_default=""),
        sa.Column("instance_type", sa.String(255), nullable=False, server_default=""),
        sa.Column("started", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity", sa.DateTime(timezone=True), nullable=True),
        sa.Column("busy_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cpu_cores", sa.Float(), nullable=True),
        sa.Column("gpu_percent", sa.Float(), nullable=True),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idle_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cull_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cull_reason", sa.String(16), nullable=False, server_default=""),
        sa.Column("extensions", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("kept_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_message", sa.Text(), nullable=False, server_default=""),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "lifecycle_passes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False, server_default="0"),
        sa.Column("servers", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("warned", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("stopped", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("lifecycle_passes")
    op.drop_table("notebook_idle")
