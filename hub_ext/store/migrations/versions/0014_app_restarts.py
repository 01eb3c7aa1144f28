"""apps: restarts in a row and why the last one happened (issue 24)

Revision ID: 0014
Revises: 0013

The runner records how many times an app's process was restarted in a row and why the last one ended
("OOMKilled", "Out of memory (limit 1 GiB)"): the Apps page and the API show them, and after
``c.Apps.max_restarts`` the app is no longer restarted. Rows from before hold 0 and "".
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("restarts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("restart_reason", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("restart_message", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        for column in ("restart_message", "restart_reason", "restarts"):
            batch.drop_column(column)
