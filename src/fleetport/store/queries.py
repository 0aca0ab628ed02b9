"""Queries shared by the core services. Everything that speaks SQL lives under store/."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from fleetport.store import tables as t
from fleetport.store.locks import lock, locked

__all__ = [
    "IntegrityError",
    "count",
    "delete_rows",
    "find",
    "find_one",
    "get",
    "get_locked",
    "insert_row",
    "location_descendants",
    "page",
    "update_row",
]


# Writes that can change who a credential is or what it may do: the authentication cache
# (core/identity) is dropped when a transaction that made one commits.
CREDENTIAL_TABLES = frozenset({"users", "sessions", "api_keys", "authorizations", "part_secrets"})
# Deleting these cascades to credentials or grants.
CASCADING_TABLES = frozenset({"organizations", "locations", "machines", "parts"})


def _touch(conn: Connection, table: Table, *, deleting: bool = False) -> None:
    if table.name in CREDENTIAL_TABLES or (deleting and table.name in CASCADING_TABLES):
        conn.info["credentials_changed"] = True


def insert_row(conn: Connection, table: Table, **values: Any) -> None:
    _touch(conn, table)
    conn.execute(insert(table).values(**values))


@cache
def _by_id(table: Table) -> Select[Any]:
    """Statements built once: SQLAlchemy then reuses their compiled form on every call."""
    return select(table).where(table.c.id == bindparam("id"))


def get(conn: Connection, table: Table, id_: str) -> RowMapping | None:
    return conn.execute(_by_id(table), {"id": id_}).mappings().first()


def lock_rows(conn: Connection, table: Table, ids: Iterable[str]) -> None:
    """Locks the rows (in id order) until the transaction ends, before what they own is read and
    changed (``store.locks``)."""
    lock(conn, table.c.id, ids)


def get_locked(conn: Connection, table: Table, id_: str) -> RowMapping | None:
    """The row, locked until the transaction ends, as it is once locked: what a read-modify-write
    of it reads (``store.locks``)."""
    found = locked(conn, table.c.id, [id_])
    return found[0] if found else None


def _eq(table: Table, where: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for name, value in where.items():
        column = table.c[name]
        if isinstance(value, (set, frozenset, list, tuple)):
            clauses.append(column.in_(list(value)) if value else false())
        else:
            clauses.append(column == value)
    return clauses


def find_one(conn: Connection, table: Table, **where: Any) -> RowMapping | None:
    return conn.execute(select(table).where(*_eq(table, where)).limit(1)).mappings().first()


def find(conn: Connection, table: Table, order_by: str = "id", **where: Any) -> list[RowMapping]:
    stmt = select(table).where(*_eq(table, where)).order_by(table.c[order_by])
    return list(conn.execute(stmt).mappings())


def count(conn: Connection, table: Table, **where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*_eq(table, where))).scalar_one())


def update_row(conn: Connection, table: Table, id_: str, **values: Any) -> int:
    _touch(conn, table)
    return conn.execute(update(table).where(table.c.id == id_).values(**values)).rowcount


def update_where(conn: Connection, table: Table, where: Mapping[str, Any], **values: Any) -> int:
    _touch(conn, table)
    return conn.execute(update(table).where(*_eq(table, where)).values(**values)).rowcount


def delete_rows(conn: Connection, table: Table, **where: Any) -> int:
    _touch(conn, table, deleting=True)
    return conn.execute(delete(table).where(*_eq(table, where))).rowcount


def page(
    conn: Connection,
    table: Table,
    *,
    limit: int,
    after: str | None = None,
    scope: ColumnElement[bool] | None = None,
    **where: Any,
) -> list[RowMapping]:
    """Rows in id order (ids are time-ordered), keyset-paginated. Fetches ``limit + 1`` rows so
    the caller can tell whether another page follows."""
    stmt = select(table).where(*_eq(table, where))
    if scope is not None:
        stmt = stmt.where(scope)
    if after is not None:
        stmt = stmt.where(table.c.id > after)
    stmt = stmt.order_by(table.c.id).limit(limit + 1)
    return list(conn.execute(stmt).mappings())


def page_desc(
    conn: Connection, table: Table, *, limit: int, before: str | None = None, **where: Any
) -> list[RowMapping]:
    """Like ``page``, newest first."""
    stmt = select(table).where(*_eq(table, where))
    if before is not None:
        stmt = stmt.where(table.c.id < before)
    stmt = stmt.order_by(table.c.id.desc()).limit(limit + 1)
    return list(conn.execute(stmt).mappings())


def any_of(*clauses: ColumnElement[bool] | None) -> ColumnElement[bool]:
    present = [c for c in clauses if c is not None]
    return or_(*present) if present else false()


def all_of(*clauses: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(*clauses)


def in_(column: Any, values: Iterable[str]) -> ColumnElement[bool] | None:
    values = list(values)
    return column.in_(values) if values else None


def location_ancestors(conn: Connection, location_id: str) -> list[RowMapping]:
    """The location and its parents, nearest first."""
    loc = t.locations
    chain = select(loc.c.id, loc.c.parent_id, loc.c.organization_id).where(loc.c.id == location_id)
    chain_cte = chain.cte("chain", recursive=True)
    parent = loc.alias("parent")
    chain_cte = chain_cte.union_all(
        select(parent.c.id, parent.c.parent_id, parent.c.organization_id).where(
            parent.c.id == chain_cte.c.parent_id
        )
    )
    return list(conn.execute(select(chain_cte)).mappings())


def location_descendants(conn: Connection, roots: Iterable[str]) -> set[str]:
    """The given locations and every location nested below them."""
    roots = list(roots)
    if not roots:
        return set()
    loc = t.locations
    tree = select(loc.c.id).where(loc.c.id.in_(roots)).cte("tree", recursive=True)
    child = loc.alias("child")
    tree = tree.union_all(select(child.c.id).where(child.c.parent_id == tree.c.id))
    return set(conn.execute(select(tree.c.id)).scalars())


def locations_shared_with(conn: Connection, organization_ids: Iterable[str]) -> set[str]:
    org_ids = list(organization_ids)
    if not org_ids:
        return set()
    s = t.location_shares
    return set(conn.execute(select(s.c.location_id).where(s.c.organization_id.in_(org_ids))).scalars())


def members_of(conn: Connection, organization_id: str, *, limit: int, after: str | None) -> list[RowMapping]:
    """Users holding any authorization in the organization, in user-id order."""
    a, u = t.authorizations, t.users
    holders = select(a.c.subject_id).where(
        and_(a.c.organization_id == organization_id, a.c.subject_type == "user")
    )
    stmt = select(u).where(u.c.id.in_(holders))
    if after is not None:
        stmt = stmt.where(u.c.id > after)
    return list(conn.execute(stmt.order_by(u.c.id).limit(limit + 1)).mappings())


def authorizations_of(conn: Connection, subject_type: str, subject_ids: Iterable[str]) -> list[RowMapping]:
    a = t.authorizations
    ids = list(subject_ids)
    if not ids:
        return []
    stmt = select(a).where(a.c.subject_type == subject_type, a.c.subject_id.in_(ids)).order_by(a.c.id)
    return list(conn.execute(stmt).mappings())


def _with_grants(subject: Table, subject_type: str) -> Select[Any]:
    """The subject's row with one row per authorization it holds (or one row with null grant
    columns when it holds none): authentication in one round trip."""
    a = t.authorizations
    grant_columns = (a.c.role, a.c.resource_type, a.c.resource_id, a.c.organization_id.label("grant_org"))
    joined = subject.outerjoin(a, and_(a.c.subject_type == subject_type, a.c.subject_id == subject.c.id))
    return select(subject, *grant_columns).select_from(joined)


_KEY_BY_SECRET = _with_grants(t.api_keys, "api_key").where(t.api_keys.c.secret_hash == bindparam("digest"))
_USER_BY_SESSION = (
    _with_grants(t.users, "user")
    .add_columns(t.sessions.c.expires_at.label("session_expires_at"))
    .join(t.sessions, t.sessions.c.user_id == t.users.c.id)
    .where(t.sessions.c.token_hash == bindparam("digest"))
)


def api_key_by_secret(conn: Connection, secret_hash: str) -> list[RowMapping]:
    """The key's columns and its grants (role, resource_type, resource_id, grant_org), a row each."""
    return list(conn.execute(_KEY_BY_SECRET, {"digest": secret_hash}).mappings())


def session_user(conn: Connection, token_hash: str) -> list[RowMapping]:
    """The session's user, its expiry and the user's grants, a row each."""
    return list(conn.execute(_USER_BY_SESSION, {"digest": token_hash}).mappings())


def part_by_secret(conn: Connection, secret_hash: str) -> RowMapping | None:
    p, ps, m = t.parts, t.part_secrets, t.machines
    stmt = (
        select(p.c.id, p.c.machine_id, m.c.organization_id, m.c.location_id)
        .join(ps, ps.c.part_id == p.c.id)
        .join(m, m.c.id == p.c.machine_id)
        .where(ps.c.secret_hash == secret_hash)
    )
    return conn.execute(stmt).mappings().first()
