"""The ledger's admission reads from indexes alone (issue 27)

Revision ID: 0019
Revises: 0018

``reserve()`` sums a group's reservations and its member's under the admission lock. With only an
index on ``group`` each of the group's rows was then looked up in the table; an index on
(group, username, cpu, memory, gpu) holds every column the sums read, so they come from the index
alone (and it serves what ``ix_reservations_group`` did, which goes). The devices held are read only
from GPU holders' rows: a partial index holds just those, instead of a scan of the whole table.
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

HOLDS_DEVICES = sa.text("gpu_devices != ''")


def upgrade() -> None:
    op.create_index("ix_reservations_group_use", "reservations", ["group", "username", "cpu", "memory", "gpu"])
    op.drop_index("ix_reservations_group", table_name="reservations")
    op.create_index("ix_reservations_devices", "reservations", ["gpu_devices"],
                    sqlite_where=HOLDS_DEVICES, postgresql_where=HOLDS_DEVICES)


def downgrade() -> None:
    op.drop_index("ix_reservations_devices", table_name="reservations")
    op.create_index("ix_reservations_group", "reservations", ["group"])
    op.drop_index("ix_reservations_group_use", table_name="reservations")
