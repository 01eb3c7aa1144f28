"""deployments scale to zero: min_replicas, scale_down_after, cold_start_timeout and what the runner saw (issue 25)

Revision ID: 0016
Revises: 0015

A deployment with ``min_replicas`` 0 is scaled to zero after ``scale_down_after`` seconds without
requests (``zero_since``: since when it is at zero, reserving nothing) and woken by the next request,
which is held up to ``cold_start_timeout`` seconds. ``last_request`` is the endpoint's last request as
the runner counted it, ``last_cold_start`` the seconds from the last wake to a ready replica (at
``last_cold_start_at``), ``wakes`` how often it was woken. Existing deployments keep one replica at least.
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

COLUMNS = (
    ("min_replicas", sa.Integer(), "1"),
    ("scale_down_after", sa.Integer(), "1800"),
    ("cold_start_timeout", sa.Integer(), "120"),
    ("zero_since", sa.DateTime(timezone=True), None),
    ("last_request", sa.DateTime(timezone=True), None),
    ("last_cold_start", sa.Float(), None),
    ("last_cold_start_at", sa.DateTime(timezone=True), None),
    ("wakes", sa.Integer(), "0"),
)


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        for name, kind, default in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=default is None, server_default=default))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        for name, _, _ in reversed(COLUMNS):
            batch.drop_column(name)
