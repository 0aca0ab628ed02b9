"""remote access: deployments, their access rules, instances, reservations, CI projects

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 00:00:00.000000

A deployment offers one machine for remote sessions (at most one per machine); its rules say who
may or may not launch instances on it. An instance holds its forwarding port and its deployment in
``port`` and ``active_deployment`` only while active: the unique constraints on them make the
database refuse a port handed out twice and a second active instance on one deployment.
Reservations wait for a deployment, oldest first. The downgrade drops the tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ci_projects",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("repo_url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ci_projects")),
    )
    op.create_index(op.f("ix_ci_projects_owner_id"), "ci_projects", ["owner_id"], unique=False)
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("machine_id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("addons", sa.JSON(), nullable=False),
        sa.Column("addons_config", sa.JSON(), nullable=False),
        sa.Column("locked_out", sa.Boolean(), nullable=False),
        sa.Column("instance_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machines.id"],
            name=op.f("fk_deployments_machine_id_machines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_deployments_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("machine_id", name=op.f("uq_deployments_machine_id")),
    )
    op.create_index(op.f("ix_deployments_organization_id"), "deployments", ["organization_id"], unique=False)
    op.create_table(
        "deployment_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("capability", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_rules_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_deployment_rules_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_rules")),
    )
    op.create_index(
        op.f("ix_deployment_rules_deployment_id"), "deployment_rules", ["deployment_id"], unique=False
    )
    op.create_index(op.f("ix_deployment_rules_user_id"), "deployment_rules", ["user_id"], unique=False)
    op.create_table(
        "instances",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("launched_by", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("expire_seconds", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("terminating_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("active_deployment", sa.String(length=36), nullable=True),
        sa.Column("hostkey", sa.Text(), nullable=True),
        sa.Column("event_url", sa.Text(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=False),
        sa.Column("firewall", sa.JSON(), nullable=True),
        sa.Column("addons", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_instances_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_instances_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instances")),
        sa.UniqueConstraint("active_deployment", name=op.f("uq_instances_active_deployment")),
        sa.UniqueConstraint("port", name=op.f("uq_instances_port")),
    )
    op.create_index("ix_instances_deployment", "instances", ["deployment_id", "id"], unique=False)
    op.create_index("ix_instances_launched_by", "instances", ["launched_by", "id"], unique=False)
    op.create_index("ix_instances_status", "instances", ["status"], unique=False)
    op.create_table(
        "reservations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("requested_by", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("expire_seconds", sa.BigInteger(), nullable=False),
        sa.Column("event_url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_reservations_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reservations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    op.create_index(
        "ix_reservations_deployment", "reservations", ["deployment_id", "created_at"], unique=False
    )
    op.create_index("ix_reservations_requested_by", "reservations", ["requested_by", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_reservations_requested_by", table_name="reservations")
    op.drop_index("ix_reservations_deployment", table_name="reservations")
    op.drop_table("reservations")
    op.drop_index("ix_instances_status", table_name="instances")
    op.drop_index("ix_instances_launched_by", table_name="instances")
    op.drop_index("ix_instances_deployment", table_name="instances")
    op.drop_table("instances")
    op.drop_index(op.f("ix_deployment_rules_user_id"), table_name="deployment_rules")
    op.drop_index(op.f("ix_deployment_rules_deployment_id"), table_name="deployment_rules")
    op.drop_table("deployment_rules")
    op.drop_index(op.f("ix_deployments_organization_id"), table_name="deployments")
    op.drop_table("deployments")
    op.drop_index(op.f("ix_ci_projects_owner_id"), table_name="ci_projects")
    op.drop_table("ci_projects")
