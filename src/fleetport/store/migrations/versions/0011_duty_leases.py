"""leases of background duties: which server process runs each, until when

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-29 00:30:00.000000

One row per duty (retention sweeps, the datarule clock) naming the server process that holds it
and when its lease expires (Unix milliseconds). The downgrade drops the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duty_leases",
        sa.Column("duty", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("duty", name=op.f("pk_duty_leases")),
    )


def downgrade() -> None:
    op.drop_table("duty_leases")
