"""Queries of the telemetry resource tree (clients, dataports, aliases) and of dataport points."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, delete, func, insert, or_, select, update

from fleetport.store import tables as t

r, a, pt = t.telemetry_resources, t.telemetry_aliases, t.telemetry_points

_INSERT_POINTS = insert(pt)


def get(conn: Connection, rid: str) -> RowMapping | None:
    return conn.execute(select(r).where(r.c.rid == rid)).mappings().first()


def by_cik(conn: Connection, cik: str) -> RowMapping | None:
    return conn.execute(select(r).where(r.c.cik == cik)).mappings().first()


def root_of(conn: Connection, organization_id: str) -> RowMapping | None:
    return conn.execute(select(r).where(r.c.root_of == organization_id)).mappings().first()


def of_machine(conn: Connection, machine_id: str) -> RowMapping | None:
    return conn.execute(select(r).where(r.c.machine_id == machine_id)).mappings().first()


def insert_resource(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(r).values(**row))


def update_resource(conn: Connection, rid: str, values: Mapping[str, Any]) -> None:
    conn.execute(update(r).where(r.c.rid == rid).values(**values))


def delete_resource(conn: Connection, rid: str) -> None:
    """Deletes the resource; the foreign keys take its sub-tree, aliases and points along."""
    conn.execute(delete(r).where(r.c.rid == rid))


def parent_of(conn: Connection, rid: str) -> str | None:
    value = conn.execute(select(r.c.parent_rid).where(r.c.rid == rid)).scalar()
    return None if value is None else str(value)


def children(
    conn: Connection, owner_rid: str, types: Collection[str], *, public_only: bool = False
) -> list[RowMapping]:
    stmt = select(r.c.rid, r.c.type, r.c.tags).where(r.c.parent_rid == owner_rid, r.c.type.in_(list(types)))
    if public_only:
        stmt = stmt.where(r.c.public.is_(True))
    return list(conn.execute(stmt.order_by(r.c.created_at, r.c.rid)).mappings())


def count_children(conn: Connection, owner_rid: str) -> dict[str, int]:
    stmt = select(r.c.type, func.count()).where(r.c.parent_rid == owner_rid).group_by(r.c.type)
    return {str(kind): int(n) for kind, n in conn.execute(stmt)}


# --- aliases ----------------------------------------------------------------------------------


def alias_target(conn: Connection, owner_rid: str, alias: str) -> str | None:
    value = conn.execute(select(a.c.rid).where(a.c.owner_rid == owner_rid, a.c.alias == alias)).scalar()
    return None if value is None else str(value)


def add_alias(conn: Connection, owner_rid: str, alias: str, rid: str) -> None:
    conn.execute(insert(a).values(owner_rid=owner_rid, alias=alias, rid=rid))


def remove_alias(conn: Connection, owner_rid: str, alias: str) -> int:
    return int(conn.execute(delete(a).where(a.c.owner_rid == owner_rid, a.c.alias == alias)).rowcount)


def aliases_under(conn: Connection, owner_rid: str) -> dict[str, list[str]]:
    """The aliases an owner made, by the RID they name."""
    stmt = select(a.c.rid, a.c.alias).where(a.c.owner_rid == owner_rid).order_by(a.c.alias)
    out: dict[str, list[str]] = {}
    for rid, alias in conn.execute(stmt):
        out.setdefault(str(rid), []).append(str(alias))
    return out


def aliased_rids(conn: Connection, owner_rid: str) -> set[str]:
    return {str(x) for x in conn.execute(select(a.c.rid).where(a.c.owner_rid == owner_rid)).scalars()}


# --- points -----------------------------------------------------------------------------------


def insert_points(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Inserts the points with one executemany."""
    if rows:
        conn.execute(_INSERT_POINTS, list(rows))


def read_points(
    conn: Connection, rid: str, *, start: int, end: int, descending: bool, limit: int
) -> list[tuple[int, float | None, int | None, str | None]]:
    """Points with ``start <= timestamp <= end`` in time order (arrival order within a second)."""
    order = (pt.c.timestamp.desc(), pt.c.id.desc()) if descending else (pt.c.timestamp.asc(), pt.c.id.asc())
    stmt = (
        select(pt.c.timestamp, pt.c.value_float, pt.c.value_int, pt.c.value_text)
        .where(pt.c.rid == rid, pt.c.timestamp >= start, pt.c.timestamp <= end)
        .order_by(*order)
        .limit(limit)
    )
    return [(int(ts), vf, vi, vt) for ts, vf, vi, vt in conn.execute(stmt)]


def flush_points(conn: Connection, rid: str, *, newer_than: int | None, older_than: int | None) -> int:
    """Deletes the points with ``newer_than < timestamp < older_than`` (None: no bound on that side)."""
    stmt = delete(pt).where(pt.c.rid == rid)
    if newer_than is not None:
        stmt = stmt.where(pt.c.timestamp > newer_than)
    if older_than is not None:
        stmt = stmt.where(pt.c.timestamp < older_than)
    return int(conn.execute(stmt).rowcount)


def trim_points(conn: Connection, rid: str, *, keep: int | None, older_than: int | None) -> int:
    """Retention: deletes points with a timestamp before ``older_than`` and all but the ``keep`` newest."""
    deleted = 0
    if older_than is not None:
        deleted += int(conn.execute(delete(pt).where(pt.c.rid == rid, pt.c.timestamp < older_than)).rowcount)
    if keep is not None:
        boundary = conn.execute(
            select(pt.c.timestamp, pt.c.id)
            .where(pt.c.rid == rid)
            .order_by(pt.c.timestamp.desc(), pt.c.id.desc())
            .offset(keep)
            .limit(1)
        ).first()
        if boundary is not None:
            ts, id_ = boundary
            older = or_(pt.c.timestamp < ts, and_(pt.c.timestamp == ts, pt.c.id <= id_))
            deleted += int(conn.execute(delete(pt).where(pt.c.rid == rid, older)).rowcount)
    return deleted


def storage(conn: Connection, rid: str) -> tuple[int, int | None, int | None]:
    """Count, first and last timestamp of a dataport's points."""
    count, first, last = conn.execute(
        select(func.count(), func.min(pt.c.timestamp), func.max(pt.c.timestamp)).where(pt.c.rid == rid)
    ).one()
    return int(count), None if first is None else int(first), None if last is None else int(last)
