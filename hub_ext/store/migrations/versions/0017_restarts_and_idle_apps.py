"""deployments keep their replicas' restarts; apps may stop when idle (issues 24 and 25)

Revision ID: 0017
Revises: 0016

``deployments``: how many times the latest revision's most restarted replica was restarted in a row and
why the last one ended (as apps keep theirs since 0014), for the deployment pages. ``apps``:
``idle_timeout`` seconds without requests after which the runner stops the app (NULL or 0: never).
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("restarts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("restart_reason", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("restart_message", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("idle_timeout", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("idle_timeout")
    with op.batch_alter_table("deployments") as batch:
        for column in ("restart_message", "restart_reason", "restarts"):
            batch.drop_column(column)
