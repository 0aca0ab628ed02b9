"""grant tokens kept as SHA-256 with a listed id; a serial number's activation is its client's status

Revision ID: 0008
Revises: 0004
Create Date: 2026-11-28 23:50:00.000000

Tokens from ``grant`` were kept in plain text: each is replaced by its SHA-256 and gets a random id
(what ``listing`` shows from now on); the tokens themselves go on working. A serial number's
``activated_at`` goes: whether it was activated is the status of its client, which activation over
RPC and through provisioning both change. The downgrade cannot recover the tokens: it drops them.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0004"
branch_labels = None
depends_on = None

_TOKEN_COLUMNS = ("client_rid", "permissions", "expires_at", "created_at")


def _tokens_table(key: list[Any]) -> None:
    op.create_table(
        "telemetry_tokens",
        *key,
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
    )
    with op.batch_alter_table("telemetry_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telemetry_tokens_client_rid"), ["client_rid"], unique=False)


def _tokens(*names: str) -> sa.TableClause:
    types: dict[str, Any] = {"permissions": sa.JSON()}
    return sa.table("telemetry_tokens", *(sa.column(n, types.get(n)) for n in names))


def upgrade() -> None:
    op.execute("ALTER TABLE provision_serials DROP COLUMN activated_at")

    conn = op.get_bind()
    old = conn.execute(sa.select(_tokens("token", *_TOKEN_COLUMNS))).mappings().all()
    op.drop_table("telemetry_tokens")  # nothing refers to it; made again in its new shape
    _tokens_table(
        [
            sa.Column("id", sa.String(length=40), nullable=False),
            sa.Column("token_hash", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry_tokens")),
            sa.UniqueConstraint("token_hash", name=op.f("uq_telemetry_tokens_token_hash")),
        ]
    )
    rows = [
        {
            "id": secrets.token_hex(20),
            "token_hash": hashlib.sha256(row["token"].encode()).hexdigest(),
            **{name: row[name] for name in _TOKEN_COLUMNS},
        }
        for row in old
    ]
    if rows:
        conn.execute(sa.insert(_tokens("id", "token_hash", *_TOKEN_COLUMNS)), rows)


def downgrade() -> None:
    op.drop_table("telemetry_tokens")
    _tokens_table(
        [
            sa.Column("token", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("token", name=op.f("pk_telemetry_tokens")),
        ]
    )
    op.execute("ALTER TABLE provision_serials ADD COLUMN activated_at BIGINT")
    op.execute(
        "UPDATE provision_serials SET activated_at = (SELECT r.modified_at FROM telemetry_resources r "
        "WHERE r.rid = provision_serials.rid AND r.status = 'activated') WHERE rid IS NOT NULL"
    )
