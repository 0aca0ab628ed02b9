"""Leases on background duties: which server process runs a duty, and until when.

A lease is one row per duty (``duty_leases``): its holder and the time (Unix milliseconds) it
expires. It is taken and renewed in one conditional statement, safe on both databases: an
``UPDATE ... WHERE holder = me OR expires_at <= now`` when the row exists, an insert that does
nothing on a conflict when it does not, so that of processes racing for it exactly one sees its
statement change a row.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from fleetport.store.tables import duty_leases as dl


def holder(conn: Connection, duty: str) -> tuple[str, int] | None:
    """Who holds the lease of ``duty`` and until when (Unix milliseconds), None if nobody ever did."""
    row = conn.execute(select(dl.c.holder, dl.c.expires_at).where(dl.c.duty == duty)).first()
    return (str(row[0]), int(row[1])) if row is not None else None


def take(conn: Connection, duty: str, who: str, now: int, until: int) -> bool:
    """Makes ``who`` the holder of ``duty``'s lease until ``until`` if it holds it already or the
    lease expired by ``now``; whether it did."""
    renewed = conn.execute(
        update(dl)
        .where(dl.c.duty == duty, or_(dl.c.holder == who, dl.c.expires_at <= now))
        .values(holder=who, expires_at=until)
    ).rowcount
    if renewed:
        return True
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(dl).values(duty=duty, holder=who, expires_at=until).on_conflict_do_nothing()
    return conn.execute(stmt.returning(dl.c.duty)).first() is not None  # (no rowcount on PostgreSQL)


def release(conn: Connection, duty: str, who: str) -> bool:
    """Gives the lease up (a process stopping), so that another takes the duty over at once."""
    return int(conn.execute(delete(dl).where(dl.c.duty == duty, dl.c.holder == who)).rowcount) == 1
