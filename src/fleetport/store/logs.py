"""Queries of part logs: batch insert, filtered keyset pages, retention.

Each entry is stored with its message and logger name case folded (``fold``) beside them, so that
a text filter runs in SQL as a plain substring test on the folded text, the same on every database:
the filter is folded the same way and matched with ``LIKE`` with its ``%``, ``_`` and escape
character (a backslash) escaped. Folded text holds no ASCII capital letter, so SQLite's ASCII-only case
insensitivity in ``LIKE`` cannot make a match that a case-sensitive comparison would not."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, exists, insert, or_, select

from fleetport.store import tables as t
from fleetport.store.locks import lock

_ENTRY_COLUMNS = [c for c in t.part_logs.c if c.name not in ("message_folded", "logger_name_folded")]
_LIKE_SPECIAL = re.compile(r"[\\%_]")  # escaped with a backslash in a LIKE pattern
_INSERT = insert(t.part_logs).returning(t.part_logs.c.id, sort_by_parameter_order=True)


def fold(text: str) -> str:
    """Text as a filter compares it: case folded for every script, not only ASCII."""
    return text.casefold()


def insert_entries(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Inserts the rows with one executemany, each with its folded message and logger name; their
    ids, in the order of ``rows`` (ascending)."""
    if not rows:
        return []
    stored = [
        {**row, "message_folded": fold(row["message"]), "logger_name_folded": fold(row["logger_name"])}
        for row in rows
    ]
    return [int(i) for i in conn.execute(_INSERT, stored).scalars()]


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
    text: str = "",
) -> list[RowMapping]:
    """A part's entries in the order of their time, then id (newest first when ``descending``),
    past the entry keyed (time, id) ``after``; ``limit + 1`` rows so that the caller can tell
    whether another page follows. ``text`` is a substring of the message or logger name, ignoring
    case (``fold``); ``start`` is inclusive, ``end`` exclusive."""
    pl = t.part_logs
    stmt = select(*_ENTRY_COLUMNS).where(pl.c.part_id == part_id)
    if text:
        pattern = "%" + _LIKE_SPECIAL.sub(r"\\\g<0>", fold(text)) + "%"  # one value: no work per row
        # a backslash escapes in PostgreSQL's LIKE by default (an ESCAPE clause there would be
        # worked out again on every row of a prepared query); SQLite's LIKE needs the clause
        escape = None if conn.dialect.name == "postgresql" else "\\"
        in_message = pl.c.message_folded.like(pattern, escape=escape)
        stmt = stmt.where(or_(in_message, pl.c.logger_name_folded.like(pattern, escape=escape)))
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
