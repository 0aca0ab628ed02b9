"""Queries of part logs: batch insert, filtered keyset pages, retention."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, exists, insert, or_, select

from fleetport.store import tables as t

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
    levels: Collection[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    descending: bool = True,
    after: tuple[datetime, int] | None = None,
    limit: int,
    text_only: bool = False,
) -> list[RowMapping]:
    """A part's entries in the order of their time, then id (newest first when ``descending``),
    past the entry keyed (time, id) ``after``; ``limit + 1`` rows so that the caller can tell
    whether another page follows. ``start`` is inclusive, ``end`` exclusive. ``text_only`` reads
    only the id, time, message and logger name of each."""
    pl = t.part_logs
    columns = [pl.c.id, pl.c.time, pl.c.message, pl.c.logger_name] if text_only else [pl]
    stmt = select(*columns).where(pl.c.part_id == part_id)
    if levels:
        stmt = stmt.where(pl.c.level.in_(list(levels)))
    if start is not None:
        stmt = stmt.where(pl.c.time >= start)
    if end is not None:
        stmt = stmt.where(pl.c.time < end)
    if after is not None:  # the bound on time alone lets the (part_id, time) index skip what was read
        time, id_ = after
        if descending:
            stmt = stmt.where(pl.c.time <= time, or_(pl.c.time < time, pl.c.id < id_))
        else:
            stmt = stmt.where(pl.c.time >= time, or_(pl.c.time > time, pl.c.id > id_))
    if descending:
        stmt = stmt.order_by(pl.c.time.desc(), pl.c.id.desc())
    else:
        stmt = stmt.order_by(pl.c.time.asc(), pl.c.id.asc())
    return list(conn.execute(stmt.limit(limit + 1)).mappings())


def entries(conn: Connection, ids: Collection[int]) -> list[RowMapping]:
    """The entries with these ids, in no particular order."""
    if not ids:
        return []
    pl = t.part_logs
    return list(conn.execute(select(pl).where(pl.c.id.in_(list(ids)))).mappings())


def trim(conn: Connection, part_id: str, *, keep: int | None, older_than: datetime | None) -> int:
    """Deletes the part's entries beyond the ``keep`` newest (by id) and those whose time is before
    ``older_than``; None leaves that rule out. Both deletes are bounded by an index on part_id."""
    pl = t.part_logs
    deleted = 0
    if older_than is not None:
        deleted += conn.execute(delete(pl).where(pl.c.part_id == part_id, pl.c.time < older_than)).rowcount
    if keep is not None:
        boundary = (
            select(pl.c.id)
            .where(pl.c.part_id == part_id)
            .order_by(pl.c.id.desc())
            .offset(keep)
            .limit(1)
            .scalar_subquery()
        )
        deleted += conn.execute(delete(pl).where(pl.c.part_id == part_id, pl.c.id <= boundary)).rowcount
    return deleted


def parts_with_logs(conn: Connection) -> list[str]:
    """Ids of the parts that hold at least one log entry (an index probe per part)."""
    p, pl = t.parts, t.part_logs
    stmt = select(p.c.id).where(exists().where(pl.c.part_id == p.c.id)).order_by(p.c.id)
    return [str(i) for i in conn.execute(stmt).scalars()]
