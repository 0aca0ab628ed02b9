"""telemetry rules, shares, tokens, usage; provisioning

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 02:10:55.934685
"""

from __future__ import annotations

import json
import sys
from array import array
from typing import Any

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

    # Series resources get an integer key (the first 60 bits of the RID), and their points move into
    # blocks: per series, in timestamp order, up to 10,000 points per block.
    conn = op.get_bind()
    resources = sa.table(
        "telemetry_resources",
        sa.column("rid", sa.String),
        sa.column("type", sa.String),
        sa.column("format", sa.String),
        sa.column("series", sa.BigInteger),
    )
    op.create_table(
        "telemetry_blocks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("series", sa.BigInteger(), nullable=False),
        sa.Column("first", sa.BigInteger(), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("timestamps", sa.LargeBinary(), nullable=False),
        sa.Column("vals", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry_blocks")),
    )
    with op.batch_alter_table("telemetry_blocks", schema=None) as batch_op:
        batch_op.create_index("ix_telemetry_blocks_series_first", ["series", "first"], unique=False)
        batch_op.create_index("ix_telemetry_blocks_series_last", ["series", "last"], unique=False)
    blocks = sa.table(
        "telemetry_blocks",
        *(sa.column(n) for n in ("series", "first", "last", "count", "timestamps", "vals")),
    )
    points = sa.table(
        "telemetry_points",
        *(sa.column(n) for n in ("id", "rid", "timestamp", "value_float", "value_int", "value_text")),
    )
    select_resources = sa.select(resources.c.rid, resources.c.format).where(resources.c.type != "client")
    for rid, fmt in conn.execute(select_resources).all():
        series = int(rid[:15], 16)
        conn.execute(resources.update().where(resources.c.rid == rid).values(series=series))
        rows = conn.execute(
            sa.select(points.c.timestamp, points.c.value_float, points.c.value_int, points.c.value_text)
            .where(points.c.rid == rid)
            .order_by(points.c.timestamp, points.c.id)
        ).all()
        for at in range(0, len(rows), 10_000):
            chunk = rows[at : at + 10_000]
            stamps = [int(r[0]) for r in chunk]
            if fmt == "float":
                vals = _pack("d", [float(r[1] or 0.0) for r in chunk])
            elif fmt == "integer":
                vals = _pack("q", [int(r[2] or 0) for r in chunk])
            else:
                vals = json.dumps([r[3] or "" for r in chunk]).encode()
            conn.execute(
                blocks.insert().values(
                    series=series,
                    first=stamps[0],
                    last=stamps[-1],
                    count=len(stamps),
                    timestamps=_pack("q", stamps),
                    vals=vals,
                )
            )
    op.drop_table("telemetry_points")
    # Blocks have no foreign key; a trigger deletes them with their resource, also when a cascade (a
    # dropped parent, organization or machine) deletes it. (A later batch_alter_table of
    # telemetry_resources on SQLite recreates the table: it must create this trigger again.)
    if conn.dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION telemetry_blocks_follow_resource() RETURNS trigger AS $$ BEGIN "
            "DELETE FROM telemetry_blocks WHERE series = OLD.series; RETURN OLD; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER telemetry_blocks_follow_resource AFTER DELETE ON telemetry_resources "
            "FOR EACH ROW WHEN (OLD.series IS NOT NULL) EXECUTE FUNCTION telemetry_blocks_follow_resource()"
        )
    else:
        op.execute(
            "CREATE TRIGGER telemetry_blocks_follow_resource AFTER DELETE ON telemetry_resources "
            "FOR EACH ROW WHEN OLD.series IS NOT NULL BEGIN "
            "DELETE FROM telemetry_blocks WHERE series = OLD.series; END"
        )


def _pack(code: str, values: list[Any]) -> bytes:
    packed = array(code, values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _unpack(code: str, data: bytes) -> list[Any]:
    packed = array(code)
    packed.frombytes(data)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tolist()


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.execute("DROP TRIGGER telemetry_blocks_follow_resource ON telemetry_resources")
        op.execute("DROP FUNCTION telemetry_blocks_follow_resource()")
    else:
        op.execute("DROP TRIGGER telemetry_blocks_follow_resource")
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
    points = sa.table(
        "telemetry_points",
        *(sa.column(n) for n in ("rid", "timestamp", "value_float", "value_int", "value_text")),
    )
    stmt = sa.text(
        "SELECT r.rid, r.format, b.timestamps, b.vals FROM telemetry_blocks b "
        "JOIN telemetry_resources r ON r.series = b.series ORDER BY b.id"
    )
    for rid, fmt, stamps, vals in conn.execute(stmt).all():
        if fmt == "float":
            values: list[Any] = _unpack("d", vals)
            column = "value_float"
        elif fmt == "integer":
            values, column = _unpack("q", vals), "value_int"
        else:
            values, column = json.loads(vals), "value_text"
        rows = [
            {"rid": rid, "timestamp": ts, column: v}
            for ts, v in zip(_unpack("q", stamps), values, strict=True)
        ]
        if rows:
            conn.execute(points.insert(), rows)
    op.drop_table("telemetry_blocks")
    with op.batch_alter_table("telemetry_resources", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_telemetry_resources_series"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_telemetry_resources_subscribe_rid"))
        batch_op.drop_index(batch_op.f("ix_telemetry_resources_deadline"))
        batch_op.drop_column("deadline")
        batch_op.drop_column("state")
        batch_op.drop_column("subscribe_rid")
        batch_op.drop_column("series")
        batch_op.drop_column("status")
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
