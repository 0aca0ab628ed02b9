"""Storage: the only place with SQL. SQLite (embedded default, WAL) or PostgreSQL.

Concurrent writers: a write transaction that reads rows and writes back what it derives from them
locks the row that owns them first (``store.locks``: the series' resource for its blocks, the part
for its log retention and config history, the machine for its parts, the serial number for its
activation, and so on), parents before children and the rows of one table in key order; where one
statement can make the whole change, a conditional ``UPDATE`` or a unique constraint does instead.
On SQLite, write transactions start with ``BEGIN IMMEDIATE`` and so run one at a time: the locks
are no-ops there.
"""

from fleetport.store.engine import Row, Store, Tx

__all__ = ["Row", "Store", "Tx"]
