"""Which writes change credentials: the authentication cache (core/identity) is dropped when a
transaction that made one commits.

Every insert, update and delete the engine runs is looked at as it runs (an engine event), so no
writer, whether a generic helper or a named query of an area, can change a credential table without
the transaction being marked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Delete, Engine, Insert, Update, event

# Writes that can change who a credential is or what it may do.
CREDENTIAL_TABLES = frozenset({"users", "sessions", "api_keys", "authorizations", "part_secrets"})
# Deleting these cascades to credentials or grants.
CASCADING_TABLES = frozenset({"organizations", "locations", "machines", "parts"})

CHANGED = "credentials_changed"  # in the connection's info while the transaction runs


def changes_credentials(statement: Any) -> bool:
    """Whether running ``statement`` may change a credential or a grant."""
    if not isinstance(statement, (Insert, Update, Delete)):
        return False
    name = getattr(statement.table, "name", None)
    return name in CREDENTIAL_TABLES or (isinstance(statement, Delete) and name in CASCADING_TABLES)


def watch(engine: Engine) -> None:
    """Marks each transaction of ``engine`` that writes a credential (``CHANGED``)."""

    @event.listens_for(engine, "before_execute")
    def _on_execute(conn: Connection, statement: Any, *_args: Any) -> None:
        if changes_credentials(statement):
            conn.info[CHANGED] = True


def take(conn: Connection) -> bool:
    """Whether the transaction that ended changed credentials, forgetting it."""
    return bool(conn.info.pop(CHANGED, False))
