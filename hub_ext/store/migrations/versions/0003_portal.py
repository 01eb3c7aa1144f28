"""activities, announcements, dismissals, installed licenses and preferences

Revision ID: 0003
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("group", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("workload_id", sa.String(255), nullable=True),
        sa.Column("link", sa.String(1024), nullable=True),
    )
    op.create_index("ix_activities_group_id", "activities", ["group", "id"])
    op.create_index("ix_activities_username_id", "activities", ["username", "id"])
    op.create_table(
        "announcements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("audience_groups", sa.Text, nullable=False),
        sa.Column("starts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "announcement_dismissals",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("announcement_id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("dismissed", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "licenses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("installed_by", sa.String(255), nullable=False),
        sa.Column("installed", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "preferences",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("default_group", sa.String(255), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("preferences")
    op.drop_table("licenses")
    op.drop_table("announcement_dismissals")
    op.drop_table("announcements")
    op.drop_index("ix_activities_username_id", table_name="activities")
    op.drop_index("ix_activities_group_id", table_name="activities")
    op.drop_table("activities")
