"""Queries of part logs: batch insert, filtered keyset pages, retention."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, exists, insert, or_, select

from fleetport.store import tables as t
from fleetport.store.locks import lock

_INSERT = insert(t.part_logs).returning(t.part_logs.c.id, sort_by_parameter_order=True)


def insert_entries(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Inserts the rows with one executemany; their ids, in the order of ``rows`` (ascending)."""
    if not rows:
        return []
    return [int(i) for i in conn.execute(_INSERT, list(rows)).scalars()]


def page(
    conn: Connection,
    part_id: str,
    *,
    text: str = "",
    levels: Collection[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    descending: bool = True,
    after: int | None = None,
    limit: int,
) -> list[RowMapping]:
    """A part's entries in id order (newest first when ``descending``), past the id ``after``;
    ``limit + 1`` rows so that the caller can tell whether another page follows. ``text`` is a
    case-insensitive substring of the message or the logger name; ``start`` is inclusive, ``end``
    exclusive."""
    pl = t.part_logs
    stmt = select(pl).where(pl.c.part_id == part_id)
    if text:
        stmt = stmt.where(
            or_(
                pl.c.message.icontains(text, autoescape=True),
                pl.c.logger_name.icontains(text, autoescape=True),
            )
        )
    if levels:
        stmt = stmt.where(pl.c.level.in_(list(levels)))
    if start is not None:
        stmt = stmt.where(pl.c.time >= start)
    if end is not None:
        stmt = stmt.where(pl.c.time < end)
    if after is not None:
        stmt = stmt.where(pl.c.id < after if descending else pl.c.id > after)
    stmt = stmt.order_by(pl.c.id.desc() if descending else pl.c.id.asc()).limit(limit + 1)
    return list(conn.execute(stmt).mappings())


def trim(conn: Connection, part_id: str, *, keep: int | None, older_than: datetime | None) -> int:
    """Deletes the part's entries beyond the ``keep`` newest (by id) and those whose time is before
    ``older_than``; None leaves that rule out. Both deletes are bounded by an index on part_id.
    The part is locked first (``store.locks``): trims of one part queue instead of deleting the
    same entries in different orders (a deadlock on PostgreSQL); appends do not wait for them."""
    lock(conn, t.parts.c.id, [part_id])
    pl = t.part_logs
    deleted = 0
    if older_than is not None:
        deleted += conn.execute(delete(pl).where(pl.c.part_id == part_id, pl.c.time < older_than)).rowcount
    if keep is not None:
        # Entries past the age limit are not counted: the ones appended between the two deletes
        # (the next trim's to delete) must not push younger ones out.
        counted = [pl.c.part_id == part_id]
        if older_than is not None:
            counted.append(pl.c.time >= older_than)
        boundary = (
            select(pl.c.id).where(*counted).order_by(pl.c.id.desc()).offset(keep).limit(1).scalar_subquery()
        )
        deleted += conn.execute(delete(pl).where(pl.c.part_id == part_id, pl.c.id <= boundary)).rowcount
    return deleted


def parts_with_logs(conn: Connection) -> list[str]:
    """Ids of the parts that hold at least one log entry (an index probe per part)."""
    p, pl = t.parts, t.part_logs
    stmt = select(p.c.id).where(exists().where(pl.c.part_id == p.c.id)).order_by(p.c.id)
    return [str(i) for i in conn.execute(stmt).scalars()]
