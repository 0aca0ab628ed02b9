"""part agents: online until, and the delivery streams' last stored sequence numbers

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 00:00:00.000000

``parts.agent_online_until``: the part's agent counts as online until then (each heartbeat moves
it on, a clean goodbye clears it), read by every server process alike. ``agent_deliveries``: per
part and delivery stream (logs, points, each with the agent buffer's origin), the last sequence
number stored; written in the transaction of the write it acknowledges. The downgrade drops both.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("parts") as batch:
        batch.add_column(sa.Column("agent_online_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "agent_deliveries",
        sa.Column("part_id", sa.String(length=36), nullable=False),
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["part_id"],
            ["parts.id"],
            name=op.f("fk_agent_deliveries_part_id_parts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("part_id", "stream", name=op.f("pk_agent_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("agent_deliveries")
    with op.batch_alter_table("parts") as batch:
        batch.drop_column("agent_online_until")
