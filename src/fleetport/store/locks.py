"""Row locks for write transactions that read rows and write back what they derive from them.

**The rule.** A write transaction that reads something and writes back a value derived from it
(the newest block of a series, a tag list, a datarule's state, the retention of a log, a serial
number's activation, a share's activator, a history or version list) first locks the row that
owns it, and reads what it derives from only after the lock is held:

* the points of a series (its blocks) are owned by the series' resource row
  (``telemetry_resources``), a part's log and config history by its ``parts`` row, a serial
  number's activation and activation log by its ``provision_serials`` row, a share by its
  ``telemetry_shares`` row, and so on: the parent row, never the rows it owns;
* a transaction that locks several rows of one table locks them all at once, in key order, before
  it writes (``lock``/``locked`` sort the keys); rows of different tables are locked parents first
  (organization, location, machine, part; client, resource). Two transactions that need the same
  rows then queue on the first of them instead of deadlocking;
* where one statement can do the whole change, a conditional ``UPDATE ... WHERE`` (the condition
  read and the value written in one statement) or an insert guarded by a unique constraint is
  used instead, and no lock is needed.

On PostgreSQL a lock is ``SELECT ... FOR NO KEY UPDATE``: it waits for, and then blocks, every
other transaction locking or updating the row until this one ends, while inserts that merely refer
to the row (a new log line of a part, a block of a series) pass. On SQLite every write transaction
starts with ``BEGIN IMMEDIATE`` and so holds the database's write lock from its first statement:
writers are serialised already, and locking a row is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, RowMapping, Select, select

S = TypeVar("S", bound=Select[Any])


def locks_rows(conn: Connection) -> bool:
    """Whether rows are locked one by one (PostgreSQL), or writers hold the whole database (SQLite)."""
    return conn.dialect.name == "postgresql"


def for_update(conn: Connection, stmt: S) -> S:
    """``stmt`` locking the rows it selects (PostgreSQL), in the order it gives them; as it is on
    SQLite."""
    return stmt.with_for_update(key_share=True) if locks_rows(conn) else stmt


_HELD = "fleetport_held_locks"  # in the connection's info: the locks the transaction holds


def held(conn: Connection, column: Column[Any], keys: Iterable[Any]) -> None:
    """Notes that the transaction holds the locks of these rows (taken by a statement of its own),
    so that ``lock`` does not ask for them again."""
    name = f"{column.table.name}.{column.name}"
    conn.info.setdefault(_HELD, set()).update((name, key) for key in keys)


def release(conn: Connection) -> None:
    """Forgets the locks noted for a transaction that ended (the store does this)."""
    conn.info.pop(_HELD, None)


def lock(conn: Connection, column: Column[Any], keys: Iterable[Any]) -> None:
    """Locks the rows of ``column``'s table whose ``column`` is one of ``keys``, in key order,
    until the transaction ends (PostgreSQL; a no-op on SQLite, whose writers hold the database).
    Rows the transaction locked already cost nothing."""
    if not locks_rows(conn):
        return
    name, taken = f"{column.table.name}.{column.name}", conn.info.get(_HELD, ())
    ordered = sorted({key for key in keys if (name, key) not in taken})
    if ordered:
        conn.execute(for_update(conn, select(column).where(column.in_(ordered)).order_by(column))).all()
        held(conn, column, ordered)


def locked(conn: Connection, column: Column[Any], keys: Iterable[Any]) -> list[RowMapping]:
    """``lock``, and the rows as they are once locked (in key order): what a read-modify-write
    reads. Missing keys have no row."""
    ordered = sorted(set(keys))
    if not ordered:
        return []
    stmt = select(column.table).where(column.in_(ordered)).order_by(column)
    rows = list(conn.execute(for_update(conn, stmt)).mappings())
    if locks_rows(conn):
        held(conn, column, ordered)
    return rows
