"""model deployments, their update history, clients and logs

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _owned(name: str, *columns) -> None:
    """A table of rows that belong to one deployment (removed with it)."""
    op.create_table(
        name,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("deployment_id", sa.String(63), sa.ForeignKey("deployments.id", ondelete="CASCADE"),
                  nullable=False),
        *columns,
    )
    op.create_index(f"ix_{name}_deployment_id", name, ["deployment_id"])


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(63), primary_key=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("instance_type", sa.String(255), nullable=False),
        sa.Column("image", sa.String(255), nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("model_uri", sa.String(1024), nullable=False),
        sa.Column("health_path", sa.String(255), nullable=False),
        sa.Column("replicas", sa.Integer, nullable=False),
        sa.Column("env_encrypted", sa.Text, nullable=False),
        sa.Column("access", sa.String(8), nullable=False),
        sa.Column("cpu", sa.Float, nullable=False),
        sa.Column("memory", sa.BigInteger, nullable=False),
        sa.Column("gpu", sa.Integer, nullable=False),
        sa.Column("stopped", sa.Boolean, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("serving_revision", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("available", sa.Integer, nullable=False),
        sa.Column("delete_requested", sa.Boolean, nullable=False),
        sa.Column("log_size", sa.BigInteger, nullable=False),
        sa.Column("log_read", sa.BigInteger, nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("unauthorized", sa.BigInteger, nullable=False),
        sa.Column("latency_p50", sa.Float, nullable=True),
        sa.Column("latency_p99", sa.Float, nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_deployments_group", "deployments", ["group"])
    _owned(
        "deployment_revisions",
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    _owned(
        "deployment_clients",
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("deployment_id", "name", name="uq_deployment_client"),
    )
    _owned(
        "deployment_log_chunks",
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in ("deployment_log_chunks", "deployment_clients", "deployment_revisions", "deployments"):
        op.drop_table(table)
