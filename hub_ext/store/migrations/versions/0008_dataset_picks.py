"""the datasets a job or a recurring job picks (``["imagenet", "labels@v3"]``)

A JSON list in a column of its own on ``jobs`` and ``job_schedules``; rows that exist get ``[]``.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("jobs", "job_schedules")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("datasets", sa.Text, nullable=False, server_default="[]"))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("datasets")
