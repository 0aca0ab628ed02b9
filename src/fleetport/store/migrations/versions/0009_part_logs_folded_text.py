"""part log entries keep their message and logger name case folded, for text filters in SQL

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 00:40:00.000000

Two columns, ``message_folded`` and ``logger_name_folded``, hold an entry's message and logger name
case folded the way Python's ``str.casefold`` folds them (the fold the server applies to filters and
live tails); existing entries are filled in here, a batch at a time, folded in Python because
SQL's ``lower()`` differs between databases and leaves most scripts' case alone. The downgrade
drops the columns.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH = 5000  # entries read and updated at a time

_part_logs = sa.table(
    "part_logs",
    sa.column("id", sa.BigInteger()),
    sa.column("message", sa.Text()),
    sa.column("logger_name", sa.String()),
    sa.column("message_folded", sa.Text()),
    sa.column("logger_name_folded", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("part_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_folded", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("logger_name_folded", sa.Text(), server_default="", nullable=False))

    conn = op.get_bind()
    pl = _part_logs
    read = sa.select(pl.c.id, pl.c.message, pl.c.logger_name).order_by(pl.c.id).limit(BATCH)
    update = (
        sa.update(pl)
        .where(pl.c.id == sa.bindparam("entry_id"))
        .values(
            message_folded=sa.bindparam("folded_message"),
            logger_name_folded=sa.bindparam("folded_logger_name"),
        )
    )
    last: int | None = None
    while True:
        rows = conn.execute(read if last is None else read.where(pl.c.id > last)).all()
        if not rows:
            break
        folded = [
            {
                "entry_id": id_,
                "folded_message": message.casefold(),
                "folded_logger_name": logger_name.casefold(),
            }
            for id_, message, logger_name in rows
            if message or logger_name
        ]
        if folded:
            conn.execute(update, folded)
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("part_logs", schema=None) as batch_op:
        batch_op.drop_column("logger_name_folded")
        batch_op.drop_column("message_folded")
