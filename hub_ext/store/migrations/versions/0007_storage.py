"""group storage uploads, share links, datasets and folder invitations

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _table(name: str, *columns, index=("group",)) -> None:
    op.create_table(name, *columns)
    for column in index:
        op.create_index(f"ix_{name}_{column}", name, [column])


def upgrade() -> None:
    _table(
        "storage_reservations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created", TZ, nullable=False),
    )
    _table(
        "uploads",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("area", sa.String(255), nullable=False),
        sa.Column("length", sa.BigInteger, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("created", TZ, nullable=False),
        sa.Column("updated", TZ, nullable=False),
    )
    _table(
        "shares",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("expires", TZ, nullable=True),
        sa.Column("revoked", TZ, nullable=True),
        sa.Column("downloads", sa.Integer, nullable=False),
        sa.Column("created", TZ, nullable=False),
    )
    _table(
        "datasets",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("git_url", sa.Text, nullable=False),
        sa.Column("git_branch", sa.String(255), nullable=False),
        sa.Column("sync_interval", sa.Integer, nullable=False),
        sa.Column("sync_requested", sa.Boolean, nullable=False),
        sa.Column("synced", TZ, nullable=True),
        sa.Column("sync_status", sa.String(16), nullable=False),
        sa.Column("sync_message", sa.Text, nullable=False),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("env_encrypted", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("created", TZ, nullable=False),
        sa.Column("updated", TZ, nullable=False),
    )
    _table(
        "dataset_grants",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(63), sa.ForeignKey("datasets.name", ondelete="CASCADE"), nullable=False),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("mode", sa.String(2), nullable=False),
        sa.Column("created", TZ, nullable=False),
        sa.UniqueConstraint("dataset", "group", name="uq_dataset_grant"),
        index=("dataset", "group"),
    )
    _table(
        "dataset_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(63), sa.ForeignKey("datasets.name", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("created", TZ, nullable=False),
        sa.UniqueConstraint("dataset", "version", name="uq_dataset_version"),
        index=("dataset",),
    )
    _table(
        "folder_invitations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("folder", sa.String(255), nullable=False),
        sa.Column("invitee", sa.String(255), nullable=False),
        sa.Column("permission", sa.String(3), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("created", TZ, nullable=False),
        sa.Column("updated", TZ, nullable=False),
        index=("owner", "invitee"),
    )


def downgrade() -> None:
    for name in ("folder_invitations", "dataset_versions", "dataset_grants", "datasets", "shares", "uploads",
                 "storage_reservations"):
        op.drop_table(name)
