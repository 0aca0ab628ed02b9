"""Queries of part agents: presence (online until, last access), the delivery streams' last
stored sequence numbers, and the presence of machines read in bulk."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from fleetport.store import tables as t
from fleetport.store.engine import Row, Tx


def seen(conn: Tx, part_id: str, at: datetime, online_until: datetime | None) -> bool:
    """Marks the part's agent seen at ``at`` and online until ``online_until`` (None: offline);
    whether the part still exists."""
    p = t.parts
    stmt = update(p).where(p.c.id == part_id).values(last_access=at, agent_online_until=online_until)
    return int(conn.execute(stmt).rowcount) == 1


def gone(conn: Tx, part_id: str) -> None:
    """The part's agent said goodbye (or its connection ended): offline at once."""
    p = t.parts
    conn.execute(update(p).where(p.c.id == part_id).values(agent_online_until=None))


def advance(conn: Tx, part_id: str, stream: str, seq: int) -> bool:
    """Records ``seq`` as the last stored message of the part's delivery ``stream`` if it is past
    the last one recorded; whether it was (False: delivered already). One conditional statement
    (and an insert when the stream is new), so that of two transactions delivering the same message
    at once exactly one sees its statement change a row: the other waits for the first's row lock
    and then finds the sequence number taken."""
    d = t.agent_deliveries
    moved = conn.execute(
        update(d).where(d.c.part_id == part_id, d.c.stream == stream, d.c.last_seq < seq).values(last_seq=seq)
    ).rowcount
    if moved:
        return True
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(d).values(part_id=part_id, stream=stream, last_seq=seq).on_conflict_do_nothing()
    return conn.execute(stmt.returning(d.c.stream)).first() is not None


def last_delivered(conn: Tx, part_id: str) -> dict[str, int]:
    """The last stored sequence number of each of the part's delivery streams."""
    d = t.agent_deliveries
    rows = conn.execute(select(d.c.stream, d.c.last_seq).where(d.c.part_id == part_id))
    return {str(stream): int(seq) for stream, seq in rows}


def online_parts(conn: Tx, machine_id: str, now: datetime) -> list[str]:
    """The parts of the machine whose agents are online at ``now``, by id."""
    p = t.parts
    stmt = select(p.c.id).where(p.c.machine_id == machine_id, p.c.agent_online_until > now).order_by(p.c.id)
    return [str(part_id) for (part_id,) in conn.execute(stmt)]


def machines_presence(
    conn: Tx, machine_ids: Collection[str]
) -> dict[str, tuple[datetime | None, datetime | None]]:
    """For each machine with parts: the latest ``agent_online_until`` and ``last_access`` of its
    parts, in one grouped statement (built once: it is read with every machine)."""
    if not machine_ids:
        return {}
    rows = conn.execute(_PRESENCE, {"machine_ids": list(machine_ids)})
    return {str(mid): (until, last) for mid, until, last in rows}


_PRESENCE = (
    select(t.parts.c.machine_id, func.max(t.parts.c.agent_online_until), func.max(t.parts.c.last_access))
    .where(t.parts.c.machine_id.in_(bindparam("machine_ids", expanding=True)))
    .group_by(t.parts.c.machine_id)
)


def machine_with_presence(conn: Tx, machine_id: str) -> Row | None:
    """The machine's row with its agents' presence (``online_until`` and ``last_seen``, the latest
    of its parts'), in one statement built once: it is read with every machine."""
    return conn.execute(_MACHINE_WITH_PRESENCE, {"id": machine_id}).mappings().first()


def _latest_of_parts(column: Any) -> Any:
    return select(func.max(column)).where(t.parts.c.machine_id == t.machines.c.id).scalar_subquery()


_MACHINE_WITH_PRESENCE = select(
    t.machines,
    _latest_of_parts(t.parts.c.agent_online_until).label("online_until"),
    _latest_of_parts(t.parts.c.last_access).label("last_seen"),
).where(t.machines.c.id == bindparam("id"))
