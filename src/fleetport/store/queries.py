"""Queries shared by the core services. Everything that speaks SQL lives under store/.

Core names a table by its name (``Record``) and columns by keyword: the helpers here read and write
rows whose columns equal given values. Anything more is a named query (here, or in the module of its
area: ``store.fleet``, ``store.catalog``, ``store.logs``, ...). Which writes drop cached credentials
is decided for every statement by ``store.credentials``, not here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    Insert,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from fleetport.store import tables as t
from fleetport.store.engine import Row, Tx
from fleetport.store.locks import held, lock, locks_rows

__all__ = [
    "Record",
    "count",
    "delete_rows",
    "find",
    "find_one",
    "get",
    "get_locked",
    "insert_row",
    "location_descendants",
    "lock_rows",
    "page",
    "page_desc",
    "update_row",
    "update_where",
]

# The tables whose rows core reads and writes one by one through the helpers below, named by their
# table name: a name outside this list fails type checking. Anything more than equality on columns
# is a named query of its area.
Record = Literal[
    "api_keys",
    "authorizations",
    "fragment_history",
    "fragments",
    "invites",
    "location_secrets",
    "location_shares",
    "locations",
    "machines",
    "module_files",
    "organizations",
    "part_config_history",
    "part_secrets",
    "parts",
    "registry_items",
    "registry_versions",
    "sessions",
    "users",
]


def table(name: Record) -> Table:
    return t.metadata.tables[name]


@cache
def _insert(record: Record) -> Insert:
    return insert(table(record))


def insert_row(conn: Tx, record: Record, **values: Any) -> None:
    # The values go as parameters of a statement built once, whose compiled form SQLAlchemy keeps
    # per set of columns: building ``insert(...).values(...)`` anew costs more than running it.
    conn.execute(_insert(record), values)


@cache
def _by_id(record: Record) -> Select[Any]:
    """Statements built once: SQLAlchemy then reuses their compiled form on every call."""
    rows = table(record)
    return select(rows).where(rows.c.id == bindparam("id"))


def get(conn: Tx, record: Record, id_: str) -> Row | None:
    return conn.execute(_by_id(record), {"id": id_}).mappings().first()


def lock_rows(conn: Tx, record: Record, ids: Iterable[str]) -> None:
    """Locks the rows (in id order) until the transaction ends, before what they own is read and
    changed (``store.locks``)."""
    lock(conn, table(record).c.id, ids)


@cache
def _by_id_locked(record: Record) -> Select[Any]:
    return _by_id(record).with_for_update(key_share=True)


def get_locked(conn: Tx, record: Record, id_: str) -> Row | None:
    """The row, locked until the transaction ends, as it is once locked: what a read-modify-write
    of it reads (``store.locks``). One row by id is the common case: its statement is built once."""
    if not locks_rows(conn):  # SQLite: the writer holds the database already
        return get(conn, record, id_)
    found = conn.execute(_by_id_locked(record), {"id": id_}).mappings().first()
    held(conn, table(record).c.id, [id_])
    return found


def columns_equal(rows: Table, where: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for name, value in where.items():
        column = rows.c[name]
        if isinstance(value, (set, frozenset, list, tuple)):
            clauses.append(column.in_(list(value)) if value else false())
        else:
            clauses.append(column == value)
    return clauses


def find_one(conn: Tx, record: Record, **where: Any) -> Row | None:
    rows = table(record)
    return conn.execute(select(rows).where(*columns_equal(rows, where)).limit(1)).mappings().first()


def find(conn: Tx, record: Record, order_by: str = "id", **where: Any) -> list[Row]:
    rows = table(record)
    stmt = select(rows).where(*columns_equal(rows, where)).order_by(rows.c[order_by])
    return list(conn.execute(stmt).mappings())


def count(conn: Tx, record: Record, **where: Any) -> int:
    rows = table(record)
    return int(
        conn.execute(select(func.count()).select_from(rows).where(*columns_equal(rows, where))).scalar_one()
    )


_ROW_ID = "id_of_row"  # the parameter naming the row of ``_update``; no table has such a column


@cache
def _update(record: Record) -> Update:
    rows = table(record)
    return update(rows).where(rows.c.id == bindparam(_ROW_ID))


def update_row(conn: Tx, record: Record, id_: str, **values: Any) -> int:
    if not values:  # a statement run with parameters would set every column of the table
        rows = table(record)
        return conn.execute(update(rows).where(rows.c.id == id_).values()).rowcount
    return conn.execute(_update(record), {_ROW_ID: id_, **values}).rowcount


def update_where(conn: Tx, record: Record, where: Mapping[str, Any], **values: Any) -> int:
    rows = table(record)
    return conn.execute(update(rows).where(*columns_equal(rows, where)).values(**values)).rowcount


def delete_rows(conn: Tx, record: Record, **where: Any) -> int:
    rows = table(record)
    return conn.execute(delete(rows).where(*columns_equal(rows, where))).rowcount


def page(conn: Tx, record: Record, *, limit: int, after: str | None = None, **where: Any) -> list[Row]:
    """Rows in id order (ids are time-ordered), keyset-paginated. Fetches ``limit + 1`` rows so
    the caller can tell whether another page follows."""
    return page_within(conn, table(record), None, limit=limit, after=after, **where)


def page_within(
    conn: Tx,
    rows: Table,
    scope: ColumnElement[bool] | None,
    *,
    limit: int,
    after: str | None = None,
    **where: Any,
) -> list[Row]:
    """``page`` of the rows ``scope`` admits as well (the store's named queries build it)."""
    stmt = select(rows).where(*columns_equal(rows, where))
    if scope is not None:
        stmt = stmt.where(scope)
    if after is not None:
        stmt = stmt.where(rows.c.id > after)
    stmt = stmt.order_by(rows.c.id).limit(limit + 1)
    return list(conn.execute(stmt).mappings())


def page_desc(conn: Tx, record: Record, *, limit: int, before: str | None = None, **where: Any) -> list[Row]:
    """Like ``page``, newest first."""
    rows = table(record)
    stmt = select(rows).where(*columns_equal(rows, where))
    if before is not None:
        stmt = stmt.where(rows.c.id < before)
    stmt = stmt.order_by(rows.c.id.desc()).limit(limit + 1)
    return list(conn.execute(stmt).mappings())


def location_ancestors(conn: Tx, location_id: str) -> list[Row]:
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


def location_descendants(conn: Tx, roots: Iterable[str]) -> set[str]:
    """The given locations and every location nested below them."""
    roots = list(roots)
    if not roots:
        return set()
    loc = t.locations
    tree = select(loc.c.id).where(loc.c.id.in_(roots)).cte("tree", recursive=True)
    child = loc.alias("child")
    tree = tree.union_all(select(child.c.id).where(child.c.parent_id == tree.c.id))
    return set(conn.execute(select(tree.c.id)).scalars())


def locations_shared_with(conn: Tx, organization_ids: Iterable[str]) -> set[str]:
    org_ids = list(organization_ids)
    if not org_ids:
        return set()
    s = t.location_shares
    return set(conn.execute(select(s.c.location_id).where(s.c.organization_id.in_(org_ids))).scalars())


def members_of(conn: Tx, organization_id: str, *, limit: int, after: str | None) -> list[Row]:
    """Users holding any authorization in the organization, in user-id order."""
    a, u = t.authorizations, t.users
    holders = select(a.c.subject_id).where(
        and_(a.c.organization_id == organization_id, a.c.subject_type == "user")
    )
    stmt = select(u).where(u.c.id.in_(holders))
    if after is not None:
        stmt = stmt.where(u.c.id > after)
    return list(conn.execute(stmt.order_by(u.c.id).limit(limit + 1)).mappings())


def all_members_of(conn: Tx, organization_id: str) -> list[Row]:
    """Every user holding any authorization in the organization, in user-id order."""
    a, u = t.authorizations, t.users
    holders = select(a.c.subject_id).where(
        and_(a.c.organization_id == organization_id, a.c.subject_type == "user")
    )
    return list(conn.execute(select(u).where(u.c.id.in_(holders)).order_by(u.c.id)).mappings())


def authorizations_of(conn: Tx, subject_type: str, subject_ids: Iterable[str]) -> list[Row]:
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


_USER_BY_ID = _with_grants(t.users, "user").where(t.users.c.id == bindparam("id"))
_KEY_BY_ID = _with_grants(t.api_keys, "api_key").where(t.api_keys.c.id == bindparam("id"))


def api_key_by_secret(conn: Tx, secret_hash: str) -> list[Row]:
    """The key's columns and its grants (role, resource_type, resource_id, grant_org), a row each."""
    return list(conn.execute(_KEY_BY_SECRET, {"digest": secret_hash}).mappings())


def session_user(conn: Tx, token_hash: str) -> list[Row]:
    """The session's user, its expiry and the user's grants, a row each."""
    return list(conn.execute(_USER_BY_SESSION, {"digest": token_hash}).mappings())


def subject_with_grants(conn: Tx, kind: str, subject_id: str) -> list[Row]:
    """A user's or API key's columns (``kind`` "user" or "api_key") and its grants, a row each;
    none when it does not exist."""
    stmt = _USER_BY_ID if kind == "user" else _KEY_BY_ID
    return list(conn.execute(stmt, {"id": subject_id}).mappings())


def part_by_secret(conn: Tx, secret_hash: str) -> Row | None:
    p, ps, m = t.parts, t.part_secrets, t.machines
    stmt = (
        select(p.c.id, p.c.machine_id, m.c.organization_id, m.c.location_id)
        .join(ps, ps.c.part_id == p.c.id)
        .join(m, m.c.id == p.c.machine_id)
        .where(ps.c.secret_hash == secret_hash)
    )
    return conn.execute(stmt).mappings().first()
