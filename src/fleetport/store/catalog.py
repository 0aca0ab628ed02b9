"""Queries of fragments and of the registry (items, versions, module files)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, and_, case, exists, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from fleetport.store import tables as t

# --- fragments --------------------------------------------------------------------------------


def _fragments() -> Select[Any]:
    f, o = t.fragments, t.organizations
    return select(f, o.c.name.label("organization_name")).join(o, o.c.id == f.c.organization_id)


def fragment(conn: Connection, fragment_id: str) -> RowMapping | None:
    """The fragment with its organization's name (``organization_name``)."""
    return conn.execute(_fragments().where(t.fragments.c.id == fragment_id)).mappings().first()


def fragments_of(
    conn: Connection,
    organization_id: str,
    *,
    include_public: bool,
    visibilities: Collection[str] | None = None,
) -> list[RowMapping]:
    """The organization's fragments and, with ``include_public``, every organization's public
    ones, in creation order."""
    f = t.fragments
    mine: ColumnElement[bool] = f.c.organization_id == organization_id
    stmt = _fragments().where(or_(mine, f.c.visibility == "public") if include_public else mine)
    if visibilities is not None:
        stmt = stmt.where(f.c.visibility.in_(list(visibilities)))
    return list(conn.execute(stmt.order_by(f.c.id)).mappings())


def fragment_usage(conn: Connection, fragment_ids: Iterable[str]) -> dict[str, tuple[int, int, int]]:
    """Per fragment: (parts using it, organizations using it, parts of other organizations than
    the fragment's own using it). Fragments no part uses are left out."""
    ids = list(fragment_ids)
    if not ids:
        return {}
    pf, p, m, f = t.part_fragments, t.parts, t.machines, t.fragments
    foreign = case((m.c.organization_id != f.c.organization_id, 1), else_=0)
    stmt = (
        select(
            pf.c.fragment_id,
            func.count(func.distinct(pf.c.part_id)),
            func.count(func.distinct(m.c.organization_id)),
            func.coalesce(func.sum(foreign), 0),
        )
        .join(p, p.c.id == pf.c.part_id)
        .join(m, m.c.id == p.c.machine_id)
        .join(f, f.c.id == pf.c.fragment_id)
        .where(pf.c.fragment_id.in_(ids))
        .group_by(pf.c.fragment_id)
    )
    return {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in conn.execute(stmt)}


def parts_using_fragment(conn: Connection, fragment_id: str) -> int:
    pf = t.part_fragments
    stmt = select(func.count()).select_from(pf).where(pf.c.fragment_id == fragment_id)
    return int(conn.execute(stmt).scalar_one())


def part_uses_fragment(conn: Connection, part_id: str, fragment_id: str) -> bool:
    pf = t.part_fragments
    stmt = select(pf.c.part_id).where(pf.c.part_id == part_id, pf.c.fragment_id == fragment_id)
    return conn.execute(stmt).first() is not None


def set_part_fragments(conn: Connection, part_id: str, fragment_ids: Collection[str]) -> None:
    """Records exactly these fragments as the ones the part's config uses."""
    pf = t.part_fragments
    conn.execute(pf.delete().where(pf.c.part_id == part_id))
    if fragment_ids:
        conn.execute(pf.insert(), [{"part_id": part_id, "fragment_id": fid} for fid in fragment_ids])


# --- registry ---------------------------------------------------------------------------------


def _items() -> Select[Any]:
    r, o = t.registry_items, t.organizations
    return select(r, o.c.public_namespace).join(o, o.c.id == r.c.organization_id)


def registry_item(conn: Connection, item_id: str) -> RowMapping | None:
    """The item with its organization's ``public_namespace``."""
    return conn.execute(_items().where(t.registry_items.c.id == item_id)).mappings().first()


def registry_item_named(
    conn: Connection, name: str, *, organization_id: str | None = None, namespace: str | None = None
) -> RowMapping | None:
    """The item of that name in the organization given by id or by public namespace."""
    r, o = t.registry_items, t.organizations
    stmt = _items().where(r.c.name == name)
    if organization_id is not None:
        stmt = stmt.where(r.c.organization_id == organization_id)
    if namespace is not None:
        stmt = stmt.where(o.c.public_namespace == namespace)
    return conn.execute(stmt.limit(1)).mappings().first()


def registry_items_page(
    conn: Connection,
    *,
    limit: int,
    after: str | None = None,
    organization_ids: Collection[str] | None,
    include_public: bool = True,
    types: Collection[str] = (),
    visibilities: Collection[str] = (),
    statuses: Collection[str] = (),
    platforms: Collection[str] = (),
    search: str = "",
) -> list[RowMapping]:
    """Items of the given organizations (``None``: of every organization) and, with
    ``include_public``, public items of any organization; narrowed by each filter given (a filter
    matches any of its values). Keyset-paginated in id order; fetches ``limit + 1`` rows."""
    r = t.registry_items
    stmt = _items()
    if organization_ids is not None:
        own: ColumnElement[bool] = r.c.organization_id.in_(list(organization_ids))
        stmt = stmt.where(or_(own, r.c.visibility == "public") if include_public else own)
    if types:
        stmt = stmt.where(r.c.type.in_(list(types)))
    if visibilities:
        stmt = stmt.where(r.c.visibility.in_(list(visibilities)))
    if statuses:
        stmt = stmt.where(r.c.status.in_(list(statuses)))
    if platforms:
        mf = t.module_files
        stmt = stmt.where(exists().where(and_(mf.c.item_id == r.c.id, mf.c.platform.in_(list(platforms)))))
    if search:
        term = search.lower()
        stmt = stmt.where(
            or_(
                func.lower(r.c.name).contains(term, autoescape=True),
                func.lower(r.c.description).contains(term, autoescape=True),
            )
        )
    if after is not None:
        stmt = stmt.where(r.c.id > after)
    return list(conn.execute(stmt.order_by(r.c.id).limit(limit + 1)).mappings())


def registry_versions(conn: Connection, item_ids: Iterable[str]) -> list[RowMapping]:
    ids = list(item_ids)
    if not ids:
        return []
    v = t.registry_versions
    return list(conn.execute(select(v).where(v.c.item_id.in_(ids)).order_by(v.c.id)).mappings())


def module_files(conn: Connection, item_ids: Iterable[str]) -> list[RowMapping]:
    ids = list(item_ids)
    if not ids:
        return []
    mf = t.module_files
    stmt = select(mf).where(mf.c.item_id.in_(ids)).order_by(mf.c.version, mf.c.platform)
    return list(conn.execute(stmt).mappings())
