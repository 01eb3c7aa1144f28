"""resource groups: where each workload was placed (issue 23)

Revision ID: 0013
Revises: 0012

Jobs, schedules, deployments and apps keep the resource group they asked for, and every
reservation the one it was placed in (so use can be shown per resource group; quota stays per
group). Rows from before hold "": the first resource group there is.
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLES = ("jobs", "job_schedules", "deployments", "apps", "reservations")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("resource_group", sa.String(255), nullable=False, server_default=""))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("resource_group")
