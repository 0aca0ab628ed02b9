"""part logs, fragments, registry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 00:08:46.314673
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fragments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_fragments_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fragments")),
    )
    with op.batch_alter_table("fragments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fragments_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "registry_items",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("entrypoint", sa.String(length=1024), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("deprecated", sa.Boolean(), nullable=False),
        sa.Column("deprecation_message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_registry_items_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_items")),
        sa.UniqueConstraint("organization_id", "name", name="uq_registry_items_org_name"),
    )
    with op.batch_alter_table("registry_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_items_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "fragment_history",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("fragment_id", sa.String(length=36), nullable=False),
        sa.Column("previous_name", sa.String(length=200), nullable=False),
        sa.Column("previous_config", sa.JSON(), nullable=False),
        sa.Column("previous_visibility", sa.String(length=16), nullable=False),
        sa.Column("edited_by", sa.String(length=320), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["fragment_id"],
            ["fragments.id"],
            name=op.f("fk_fragment_history_fragment_id_fragments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fragment_history")),
    )
    with op.batch_alter_table("fragment_history", schema=None) as batch_op:
        batch_op.create_index("ix_fragment_history_fragment", ["fragment_id", "id"], unique=False)

    op.create_table(
        "module_files",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("blob", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["registry_items.id"],
            name=op.f("fk_module_files_item_id_registry_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_module_files")),
        sa.UniqueConstraint("item_id", "version", "platform", name="uq_module_files_item_version_platform"),
    )
    op.create_table(
        "registry_versions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("deprecated", sa.Boolean(), nullable=False),
        sa.Column("deprecation_message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["registry_items.id"],
            name=op.f("fk_registry_versions_item_id_registry_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_versions")),
        sa.UniqueConstraint("item_id", "version", name="uq_registry_versions_item_version"),
    )
    op.create_table(
        "part_fragments",
        sa.Column("part_id", sa.String(length=36), nullable=False),
        sa.Column("fragment_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_part_fragments_part_id_parts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("part_id", "fragment_id", name=op.f("pk_part_fragments")),
    )
    with op.batch_alter_table("part_fragments", schema=None) as batch_op:
        batch_op.create_index("ix_part_fragments_fragment", ["fragment_id"], unique=False)

    op.create_table(
        "part_logs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("part_id", sa.String(length=36), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("logger_name", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("caller", sa.JSON(), nullable=True),
        sa.Column("stack", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_part_logs_part_id_parts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_part_logs")),
    )
    with op.batch_alter_table("part_logs", schema=None) as batch_op:
        batch_op.create_index("ix_part_logs_part_id", ["part_id", "id"], unique=False)
        batch_op.create_index("ix_part_logs_part_time", ["part_id", "time"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("part_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_part_logs_part_time")
        batch_op.drop_index("ix_part_logs_part_id")

    op.drop_table("part_logs")
    with op.batch_alter_table("part_fragments", schema=None) as batch_op:
        batch_op.drop_index("ix_part_fragments_fragment")

    op.drop_table("part_fragments")
    op.drop_table("registry_versions")
    op.drop_table("module_files")
    with op.batch_alter_table("fragment_history", schema=None) as batch_op:
        batch_op.drop_index("ix_fragment_history_fragment")

    op.drop_table("fragment_history")
    with op.batch_alter_table("registry_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_items_organization_id"))

    op.drop_table("registry_items")
    with op.batch_alter_table("fragments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fragments_organization_id"))

    op.drop_table("fragments")
