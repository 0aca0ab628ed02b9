"""rover rentals come from deployments: machines.rentable goes

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 00:10:00.000000

A machine is offered for rent (Viam's rover rentals) when it is offered as a deployment, so the
``rentable`` flag goes. A machine flagged rentable that has no deployment gets one (type
``generic``, no region or add-ons, not locked out), so that it stays a rental; then the column is
dropped (``ALTER TABLE ... DROP COLUMN``: PostgreSQL, or SQLite 3.35 and later; SQLite's table
rebuild is not used, as it would cascade to the machines' parts). The downgrade adds the column
back, set for the machines that have a deployment.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_machines = sa.table(
    "machines",
    sa.column("id", sa.String()),
    sa.column("organization_id", sa.String()),
    sa.column("rentable", sa.Boolean()),
)
_deployments = sa.table(
    "deployments",
    sa.column("id", sa.String()),
    sa.column("machine_id", sa.String()),
    sa.column("organization_id", sa.String()),
    sa.column("type", sa.String()),
    sa.column("region", sa.String()),
    sa.column("addons", sa.JSON()),
    sa.column("addons_config", sa.JSON()),
    sa.column("locked_out", sa.Boolean()),
    sa.column("instance_count", sa.BigInteger()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _time_ordered_id() -> str:
    """A version 7 UUID, as the server makes ids."""
    ms = time.time_ns() // 1_000_000
    tail = int.from_bytes(os.urandom(10), "big") >> 6
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (tail >> 62) << 64 | 0b10 << 62 | tail & ((1 << 62) - 1)
    )
    return str(uuid.UUID(int=value))


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        found = sqlite3.sqlite_version
        raise RuntimeError(f"this migration drops a column: it needs SQLite 3.35 or later (this is {found})")
    m, d = _machines, _deployments
    unoffered = sa.select(m.c.id, m.c.organization_id).where(
        m.c.rentable.is_(True), ~sa.exists().where(d.c.machine_id == m.c.id)
    )
    now = datetime.now(UTC)
    rows = [
        {
            "id": _time_ordered_id(),
            "machine_id": machine_id,
            "organization_id": organization_id,
            "type": "generic",
            "region": "",
            "addons": [],
            "addons_config": {},
            "locked_out": False,
            "instance_count": 0,
            "created_at": now,
        }
        for machine_id, organization_id in conn.execute(unoffered).all()
    ]
    if rows:
        conn.execute(sa.insert(d), rows)
    op.execute("ALTER TABLE machines DROP COLUMN rentable")


def downgrade() -> None:
    op.add_column("machines", sa.Column("rentable", sa.Boolean(), nullable=False, server_default=sa.false()))
    m, d = _machines, _deployments
    op.get_bind().execute(sa.update(m).where(m.c.id.in_(sa.select(d.c.machine_id))).values(rentable=True))
