"""Queries of the fleet's records: organizations, locations and machines as a caller sees them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, and_, exists, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from fleetport.store import tables as t
from fleetport.store.engine import Row, Tx
from fleetport.store.queries import columns_equal, page_within


@dataclass(frozen=True)
class Within:
    """The rows a caller reaches: those of these organizations, of these locations, or these
    robots (ids). ``None`` in its place means every row."""

    organizations: Collection[str] = ()
    locations: Collection[str] = ()
    robots: Collection[str] = ()


def _any_in(*pairs: tuple[Column[Any], Collection[str]]) -> ColumnElement[bool]:
    present = [column.in_(list(values)) for column, values in pairs if values]
    return or_(*present) if present else false()


def organizations_page(tx: Tx, within: Within | None, *, limit: int, after: str | None) -> list[Row]:
    """Organizations in id order, keyset-paginated (``limit + 1`` rows)."""
    o = t.organizations
    scope = None if within is None else _any_in((o.c.id, within.organizations))
    return page_within(tx, o, scope, limit=limit, after=after)


def locations_page(
    tx: Tx,
    within: Within | None,
    *,
    limit: int,
    after: str | None,
    organization_id: str | None = None,
    shared: Collection[str] = (),
) -> list[Row]:
    """Locations in id order, keyset-paginated (``limit + 1`` rows); with ``organization_id``, only
    those it owns or that are ``shared`` with it."""
    loc = t.locations
    clauses = []
    if organization_id is not None:
        clauses.append(or_(loc.c.organization_id == organization_id, _any_in((loc.c.id, shared))))
    if within is not None:
        clauses.append(_any_in((loc.c.organization_id, within.organizations), (loc.c.id, within.locations)))
    scope = and_(*clauses) if clauses else None
    return page_within(tx, loc, scope, limit=limit, after=after)


def _machines_within(within: Within | None) -> ColumnElement[bool] | None:
    m = t.machines
    if within is None:
        return None
    return _any_in(
        (m.c.organization_id, within.organizations),
        (m.c.location_id, within.locations),
        (m.c.id, within.robots),
    )


def machines_page(tx: Tx, within: Within | None, *, limit: int, after: str | None, **where: Any) -> list[Row]:
    """Machines in id order, keyset-paginated (``limit + 1`` rows), with columns equal to ``where``."""
    return page_within(tx, t.machines, _machines_within(within), limit=limit, after=after, **where)


def machines_with_parts(tx: Tx, within: Within | None, *, offered: bool = False, **where: Any) -> list[Row]:
    """Every machine with columns equal to ``where`` (and, when ``offered``, a deployment), in id
    order, each with ``last_access`` (the latest of its parts') and ``main_part_id``: one
    statement however many machines match."""
    m, parts = t.machines, t.parts
    last_access = select(func.max(parts.c.last_access)).where(parts.c.machine_id == m.c.id).scalar_subquery()
    main_part = (
        select(parts.c.id)
        .where(parts.c.machine_id == m.c.id, parts.c.main_part.is_(True))
        .limit(1)
        .scalar_subquery()
    )
    stmt = select(m, last_access.label("last_access"), main_part.label("main_part_id"))
    stmt = stmt.where(*columns_equal(m, where))
    if offered:
        stmt = stmt.where(exists().where(t.deployments.c.machine_id == m.c.id))
    scope = _machines_within(within)
    if scope is not None:
        stmt = stmt.where(scope)
    return list(tx.execute(stmt.order_by(m.c.id)).mappings())


def robot_counts(tx: Tx, location_ids: Collection[str]) -> dict[str, int]:
    """The number of machines in each of these locations (those without any are left out)."""
    if not location_ids:
        return {}
    m = t.machines
    stmt = (
        select(m.c.location_id, func.count())
        .where(m.c.location_id.in_(list(location_ids)))
        .group_by(m.c.location_id)
    )
    return {location_id: count for location_id, count in tx.execute(stmt)}
