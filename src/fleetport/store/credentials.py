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
CREDENTIAL_TABLES = frozenset(
    {
        "users",
        "sessions",
        "api_keys",
        "authorizations",
        "part_secrets",
        "telemetry_tokens",
        "provision_vendors",
    }
)
# Deleting these cascades to credentials or grants.
CASCADING_TABLES = frozenset({"organizations", "locations", "machines", "parts", "telemetry_resources"})
# Tables of which only some columns say who a key is: a One Platform client's key (CIK), its
# status (an expired key stops working) and its place in the tree (what the key acts as). Other
# updates (a datarule's state, a name) leave credentials be.
CREDENTIAL_COLUMNS = {"telemetry_resources": frozenset({"cik", "status", "parent_rid"})}

CHANGED = "credentials_changed"  # in the connection's info while the transaction runs


def changes_credentials(statement: Any, params: Any = None) -> bool:
    """Whether running ``statement`` (with ``params``, the values an execution passes) may change
    a credential or a grant."""
    if not isinstance(statement, (Insert, Update, Delete)):
        return False
    name = getattr(statement.table, "name", None)
    if name in CREDENTIAL_TABLES or (isinstance(statement, Delete) and name in CASCADING_TABLES):
        return True
    columns = CREDENTIAL_COLUMNS.get(str(name))
    if columns is None or not isinstance(statement, Update):
        return False
    return not columns.isdisjoint(_set_columns(statement, params))


def _set_columns(statement: Update, params: Any) -> set[str]:
    """The names of the columns an UPDATE sets, by its ``values`` or the parameters it runs with."""
    names = {str(getattr(key, "key", key)) for key in statement._values or ()}
    pending = [params]
    while pending:
        given = pending.pop()
        if isinstance(given, dict):
            names.update(str(key) for key in given)
        elif isinstance(given, (list, tuple)):
            pending.extend(given)
    return names


def watch(engine: Engine) -> None:
    """Marks each transaction of ``engine`` that writes a credential (``CHANGED``)."""

    @event.listens_for(engine, "before_execute")
    def _on_execute(
        conn: Connection, statement: Any, multiparams: Any, params: Any, execution_options: Any
    ) -> None:
        if changes_credentials(statement, [*(multiparams or ()), params]):
            conn.info[CHANGED] = True


def take(conn: Connection) -> bool:
    """Whether the transaction that ended changed credentials, forgetting it."""
    return bool(conn.info.pop(CHANGED, False))
