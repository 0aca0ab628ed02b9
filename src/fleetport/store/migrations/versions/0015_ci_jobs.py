"""CI jobs: a branch (and a commit) of a CI project run on an instance of a deployment

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 00:00:00.000000

``ci_jobs``: one row per job, with its status (queued, running, passed, failed, error), exit
code, reason, log (bounded; ``log_size`` in UTF-8 bytes), the workspace type it needs, and the
deployment and instance it ran on while they exist. The downgrade drops the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ci_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("workspace_type", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("log_size", sa.BigInteger(), nullable=False),
        sa.Column("log_truncated", sa.Boolean(), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=True),
        sa.Column("instance_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["ci_projects.id"],
            name=op.f("fk_ci_jobs_project_id_ci_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_ci_jobs_deployment_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_ci_jobs_instance_id_instances"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ci_jobs")),
        sa.UniqueConstraint("instance_id", name=op.f("uq_ci_jobs_instance_id")),
    )
    op.create_index("ix_ci_jobs_project", "ci_jobs", ["project_id", "id"], unique=False)
    op.create_index("ix_ci_jobs_status", "ci_jobs", ["status", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ci_jobs_status", table_name="ci_jobs")
    op.drop_index("ix_ci_jobs_project", table_name="ci_jobs")
    op.drop_table("ci_jobs")
