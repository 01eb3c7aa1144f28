"""apps' API tokens: each running app holds a token of its own hub service (issue 21)

Revision ID: 0012
Revises: 0011

The token is stored encrypted (Fernet, as the app's variables are) so that an
app the runner adopts after a restart, or a replica it restarts, keeps the
token the hub knows; it is cleared when the app stops.
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("token_encrypted", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("token_encrypted")
