"""telemetry rules, shares, tokens, usage; provisioning

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 02:10:55.934685
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provision_vendors",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("client_rid", sa.String(length=40), nullable=False),
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_rid"],
            ["telemetry_resources.rid"],
            name=op.f("fk_provision_vendors_client_rid_telemetry_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provision_vendors")),
        sa.UniqueConstraint("client_rid", name=op.f("uq_provision_vendors_client_rid")),
        sa.UniqueConstraint("name", name=op.f("uq_provision_vendors_name")),
        sa.UniqueConstraint("token", name=op.f("uq_provision_vendors_token")),
    )
    op.create_table(
        "telemetry_shares",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("rid", sa.String(length=40), nullable=False),
        sa.Column("owner_rid", sa.String(length=40), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("activator_rid", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("activated_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["activator_rid"],
            ["telemetry_resources.rid"],
            name=op.f("fk_telemetry_shares_activator_rid_telemetry_resources"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_rid"],
            ["telemetry_resources.rid"],
            name=op.f("fk_telemetry_shares_owner_rid_telemetry_resources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["telemetry_resources.rid"],
            name=op.f("fk_telemetry_shares_rid_telemetry_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_telemetry_shares")),
    )
    with op.batch_alter_table("telemetry_shares", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telemetry_shares_activator_rid"), ["activator_rid"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_telemetry_shares_owner_rid"), ["owner_rid"], unique=False)
        batch_op.create_index(batch_op.f("ix_telemetry_shares_rid"), ["rid"], unique=False)

    op.create_table(
        "telemetry_tokens",
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("client_rid", sa.String(length=40), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_rid"],
            ["telemetry_resources.rid"],
            name=op.f("fk_telemetry_tokens_client_rid_telemetry_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_telemetry_tokens")),
    )
    with op.batch_alter_table("telemetry_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telemetry_tokens_client_rid"), ["client_rid"], unique=False)

    op.create_table(
        "telemetry_usage",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("client_rid", sa.String(length=40), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_rid"],
            ["telemetry_resources.rid"],
            name=op.f("fk_telemetry_usage_client_rid_telemetry_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry_usage")),
    )
    with op.batch_alter_table("telemetry_usage", schema=None) as batch_op:
        batch_op.create_index(
            "ix_telemetry_usage_client_metric_at", ["client_rid", "metric", "at"], unique=False
        )

    op.create_table(
        "provision_models",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("vendor_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("template_rid", sa.String(length=40), nullable=False),
        sa.Column("share_code", sa.String(length=40), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            ["provision_vendors.id"],
            name=op.f("fk_provision_models_vendor_id_provision_vendors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provision_models")),
        sa.UniqueConstraint("vendor_id", "name", name="uq_provision_models_vendor_name"),
    )
    op.create_table(
        "provision_content",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("content_id", sa.String(length=255), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("blob", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["provision_models.id"],
            name=op.f("fk_provision_content_model_id_provision_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provision_content")),
        sa.UniqueConstraint("model_id", "content_id", name="uq_provision_content_model_content"),
    )
    op.create_table(
        "provision_serials",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("sn", sa.String(length=255), nullable=False),
        sa.Column("extra", sa.Text(), nullable=False),
        sa.Column("rid", sa.String(length=40), nullable=True),
        sa.Column("owner_rid", sa.String(length=40), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("activated_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["provision_models.id"],
            name=op.f("fk_provision_serials_model_id_provision_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["telemetry_resources.rid"],
            name=op.f("fk_provision_serials_rid_telemetry_resources"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provision_serials")),
        sa.UniqueConstraint("model_id", "sn", name="uq_provision_serials_model_sn"),
    )
    op.create_table(
        "provision_activation_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("serial_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("connection", sa.Text(), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["serial_id"],
            ["provision_serials.id"],
            name=op.f("fk_provision_activation_log_serial_id_provision_serials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provision_activation_log")),
    )
    with op.batch_alter_table("provision_activation_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provision_activation_log_serial_id"), ["serial_id"], unique=False
        )

    with op.batch_alter_table("telemetry_resources", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="activated")
        )
        batch_op.add_column(sa.Column("series", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("subscribe_rid", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("state", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("deadline", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_telemetry_resources_deadline"), ["deadline"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_telemetry_resources_subscribe_rid"), ["subscribe_rid"], unique=False
        )
        batch_op.create_unique_constraint(batch_op.f("uq_telemetry_resources_series"), ["series"])

    # Points are keyed by an integer series (the first 60 bits of the RID) instead of the RID.
    conn = op.get_bind()
    resources = sa.table(
        "telemetry_resources",
        sa.column("rid", sa.String),
        sa.column("type", sa.String),
        sa.column("series", sa.BigInteger),
    )
    for (rid,) in conn.execute(sa.select(resources.c.rid).where(resources.c.type != "client")).all():
        conn.execute(resources.update().where(resources.c.rid == rid).values(series=int(rid[:15], 16)))
    op.execute(
        "CREATE TABLE telemetry_points_migrating AS SELECT p.id, r.series, p.timestamp, p.value_float, "
        "p.value_int, p.value_text FROM telemetry_points p JOIN telemetry_resources r ON r.rid = p.rid"
    )
    op.drop_table("telemetry_points")
    _create_points()
    op.execute(
        "INSERT INTO telemetry_points (id, series, timestamp, value_float, value_int, value_text) "
        "SELECT id, series, timestamp, value_float, value_int, value_text FROM telemetry_points_migrating"
    )
    op.drop_table("telemetry_points_migrating")
    # Points have no foreign key (a check per point would slow ingest); a trigger deletes them with
    # their resource, also when a cascade (a dropped parent, organization or machine) deletes it.
    if conn.dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION telemetry_points_follow_resource() RETURNS trigger AS $$ BEGIN "
            "DELETE FROM telemetry_points WHERE series = OLD.series; RETURN OLD; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER telemetry_points_follow_resource AFTER DELETE ON telemetry_resources "
            "FOR EACH ROW WHEN (OLD.series IS NOT NULL) EXECUTE FUNCTION telemetry_points_follow_resource()"
        )
    else:
        op.execute(
            "CREATE TRIGGER telemetry_points_follow_resource AFTER DELETE ON telemetry_resources "
            "FOR EACH ROW WHEN OLD.series IS NOT NULL BEGIN "
            "DELETE FROM telemetry_points WHERE series = OLD.series; END"
        )
    if conn.dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('telemetry_points', 'id'), "
            "coalesce(max(id), 0) + 1, false) FROM telemetry_points"
        )


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER telemetry_points_follow_resource"
        + (" ON telemetry_resources" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION telemetry_points_follow_resource()")
    with op.batch_alter_table("telemetry_resources", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_telemetry_resources_series"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_telemetry_resources_subscribe_rid"))
        batch_op.drop_index(batch_op.f("ix_telemetry_resources_deadline"))
        batch_op.drop_column("deadline")
        batch_op.drop_column("state")
        batch_op.drop_column("subscribe_rid")
        batch_op.drop_column("series")
        batch_op.drop_column("status")

    op.drop_table("telemetry_points")
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

    with op.batch_alter_table("provision_activation_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provision_activation_log_serial_id"))

    op.drop_table("provision_activation_log")
    op.drop_table("provision_serials")
    op.drop_table("provision_content")
    op.drop_table("provision_models")
    with op.batch_alter_table("telemetry_usage", schema=None) as batch_op:
        batch_op.drop_index("ix_telemetry_usage_client_metric_at")

    op.drop_table("telemetry_usage")
    with op.batch_alter_table("telemetry_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telemetry_tokens_client_rid"))

    op.drop_table("telemetry_tokens")
    with op.batch_alter_table("telemetry_shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telemetry_shares_rid"))
        batch_op.drop_index(batch_op.f("ix_telemetry_shares_owner_rid"))
        batch_op.drop_index(batch_op.f("ix_telemetry_shares_activator_rid"))

    op.drop_table("telemetry_shares")
    op.drop_table("provision_vendors")


def _create_points() -> None:
    op.create_table(
        "telemetry_points",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("series", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("value_float", sa.Float(), nullable=True),
        sa.Column("value_int", sa.BigInteger(), nullable=True),
        sa.Column("value_text", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry_points")),
    )
    with op.batch_alter_table("telemetry_points", schema=None) as batch_op:
        batch_op.create_index("ix_telemetry_points_series_timestamp", ["series", "timestamp"], unique=False)
