"""jobs, their logs and artifacts, recurring job schedules and their runs

Joins the two heads (0003 portal, 0004 accounts).

Revision ID: 0005
Revises: 0003, 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = ("0003", "0004")
branch_labels = None
depends_on = None


def _template() -> list:
    return [
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("image", sa.String(255), nullable=False),
        sa.Column("instance_type", sa.String(255), nullable=False),
        sa.Column("env_encrypted", sa.Text, nullable=False),
        sa.Column("timeout", sa.Integer, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        *_template(),
        sa.Column("cpu", sa.Float, nullable=False),
        sa.Column("memory", sa.BigInteger, nullable=False),
        sa.Column("gpu", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("delete_requested", sa.Boolean, nullable=False),
        sa.Column("executor", sa.String(32), nullable=False),
        sa.Column("handle", sa.String(512), nullable=False),
        sa.Column("log_read", sa.BigInteger, nullable=False),
        sa.Column("log_size", sa.BigInteger, nullable=False),
        sa.Column("artifacts_note", sa.Text, nullable=False),
        sa.Column("schedule_id", sa.Integer, nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rerun_of", sa.Integer, nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("admitted", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_jobs_group_phase", "jobs", ["group", "phase"])
    op.create_index("ix_jobs_phase", "jobs", ["phase"])
    op.create_index("ix_jobs_username", "jobs", ["username"])
    op.create_index("ix_jobs_schedule_id", "jobs", ["schedule_id"])
    op.create_table(
        "job_log_chunks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_job_log_chunks_job_id", "job_log_chunks", ["job_id"])
    op.create_table(
        "job_artifacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("job_id", "path", name="uq_job_artifact_path"),
    )
    op.create_index("ix_job_artifacts_job_id", "job_artifacts", ["job_id"])
    op.create_table(
        "job_schedules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        *_template(),
        sa.Column("recurrence", sa.String(120), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("overlap", sa.String(8), nullable=False),
        sa.Column("last_scheduled", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_job_schedules_group", "job_schedules", ["group"])
    op.create_table(
        "schedule_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("schedule_id", sa.Integer, sa.ForeignKey("job_schedules.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("scheduled", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("job_id", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("schedule_id", "scheduled", name="uq_schedule_run"),
    )
    op.create_index("ix_schedule_runs_schedule_id", "schedule_runs", ["schedule_id"])


def downgrade() -> None:
    for table in ("schedule_runs", "job_schedules", "job_artifacts", "job_log_chunks", "jobs"):
        op.drop_table(table)
