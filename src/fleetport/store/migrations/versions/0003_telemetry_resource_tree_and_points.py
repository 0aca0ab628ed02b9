"""telemetry resource tree and points

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 01:12:36.664236
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "telemetry_resources",
        sa.Column("rid", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("parent_rid", sa.String(length=40), nullable=True),
        sa.Column("root_of", sa.String(length=36), nullable=True),
        sa.Column("machine_id", sa.String(length=36), nullable=True),
        sa.Column("cik", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=True),
        sa.Column("retention_count", sa.BigInteger(), nullable=True),
        sa.Column("retention_seconds", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("modified_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machines.id"],
            name=op.f("fk_telemetry_resources_machine_id_machines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_telemetry_resources_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_rid"],
            ["telemetry_resources.rid"],
            name=op.f("fk_telemetry_resources_parent_rid_telemetry_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rid", name=op.f("pk_telemetry_resources")),
        sa.UniqueConstraint("cik", name=op.f("uq_telemetry_resources_cik")),
        sa.UniqueConstraint("machine_id", name=op.f("uq_telemetry_resources_machine_id")),
        sa.UniqueConstraint("root_of", name=op.f("uq_telemetry_resources_root_of")),
    )
    with op.batch_alter_table("telemetry_resources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telemetry_resources_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_telemetry_resources_parent_rid"), ["parent_rid"], unique=False)

    op.create_table(
        "telemetry_aliases",
        sa.Column("owner_rid", sa.String(length=40), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("rid", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_rid"],
            ["telemetry_resources.rid"],
            name=op.f("fk_telemetry_aliases_owner_rid_telemetry_resources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["telemetry_resources.rid"],
            name=op.f("fk_telemetry_aliases_rid_telemetry_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("owner_rid", "alias", name=op.f("pk_telemetry_aliases")),
    )
    with op.batch_alter_table("telemetry_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telemetry_aliases_rid"), ["rid"], unique=False)

    op.create_table(
        "telemetry_points",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("rid", sa.String(length=40), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("value_float", sa.Float(), nullable=True),
        sa.Column("value_int", sa.BigInteger(), nullable=True),
        sa.Column("value_text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["telemetry_resources.rid"],
            name=op.f("fk_telemetry_points_rid_telemetry_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry_points")),
    )
    with op.batch_alter_table("telemetry_points", schema=None) as batch_op:
        batch_op.create_index("ix_telemetry_points_rid_timestamp", ["rid", "timestamp"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("telemetry_points", schema=None) as batch_op:
        batch_op.drop_index("ix_telemetry_points_rid_timestamp")

    op.drop_table("telemetry_points")
    with op.batch_alter_table("telemetry_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telemetry_aliases_rid"))

    op.drop_table("telemetry_aliases")
    with op.batch_alter_table("telemetry_resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telemetry_resources_parent_rid"))
        batch_op.drop_index(batch_op.f("ix_telemetry_resources_organization_id"))

    op.drop_table("telemetry_resources")
