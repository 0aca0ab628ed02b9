"""remote access: the ports instances hold, forwarding and add-on ports alike

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09 00:00:00.000000

``instance_ports``: every port of the remote port range an active instance holds, keyed by the
port, so that the database refuses one port handed out twice whether it forwards SSH or relays an
add-on (mistyproxy's http and https ports, vnc). The forwarding ports of the instances active at
the upgrade are copied in. The downgrade drops the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_ports",
        sa.Column("port", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("addon", sa.String(length=16), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_instance_ports_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("port", name=op.f("pk_instance_ports")),
    )
    op.create_index(op.f("ix_instance_ports_instance_id"), "instance_ports", ["instance_id"], unique=False)
    op.execute(
        "INSERT INTO instance_ports (port, instance_id, addon, kind) "
        "SELECT port, id, NULL, 'ssh' FROM instances WHERE port IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_instance_ports_instance_id"), table_name="instance_ports")
    op.drop_table("instance_ports")
