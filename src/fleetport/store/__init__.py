"""Storage: the only place with SQL. SQLite (embedded default, WAL) or PostgreSQL."""

from fleetport.store.engine import Store

__all__ = ["Store"]
