"""Queries of the telemetry resource tree (clients, dataports, aliases) and of dataport points."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from fleetport.store import tables as t
from fleetport.store.locks import for_update, held, locked, locks_rows

r, a = t.telemetry_resources, t.telemetry_aliases
sh, tk, us = t.telemetry_shares, t.telemetry_tokens, t.telemetry_usage


def get(conn: Connection, rid: str) -> RowMapping | None:
    return conn.execute(select(r).where(r.c.rid == rid)).mappings().first()


def lock(conn: Connection, rids: Collection[str]) -> dict[str, RowMapping]:
    """Locks the resources (in RID order) until the transaction ends; their rows as they are once
    locked (missing ones left out)."""
    return _holding(conn, locked(conn, r.c.rid, rids))


def _holding(conn: Connection, rows: Iterable[RowMapping]) -> dict[str, RowMapping]:
    """Locked resources by RID; their series are noted as locked too (``store.series`` locks a
    series through its resource's ``series``)."""
    found = {str(row["rid"]): row for row in rows}
    held(conn, r.c.series, [row["series"] for row in found.values() if row["series"] is not None])
    return found


def lock_flow(conn: Connection, rows: Sequence[RowMapping], hops: int) -> dict[str, RowMapping]:
    """Locks the resources of ``rows`` and those their points flow on to (their subscribers, up to
    ``hops`` subscriptions away), all at once in RID order, before anything is written; the rows
    of ``rows`` as they are once locked, by RID (one deleted meanwhile is missing). On SQLite, whose
    writers hold the whole database, nothing is locked and the rows given are current."""
    if not locks_rows(conn):
        return {str(row["rid"]): row for row in rows}
    given = sorted({str(row["rid"]) for row in rows})
    # one statement: the resources and their subscribers (recursively), locked in RID order
    flow = select(r.c.rid, literal(0).label("hops")).where(r.c.rid.in_(given)).cte("flow", recursive=True)
    subscriber = r.alias("subscriber")
    flow = flow.union_all(
        select(subscriber.c.rid, flow.c.hops + 1).where(
            subscriber.c.subscribe_rid == flow.c.rid, flow.c.hops < hops
        )
    )
    stmt = select(r).where(r.c.rid.in_(select(flow.c.rid))).order_by(r.c.rid)
    found = _holding(conn, conn.execute(for_update(conn, stmt)).mappings())
    held(conn, r.c.rid, found)
    return {rid: row for rid, row in found.items() if rid in given}


def by_cik(conn: Connection, cik: str) -> RowMapping | None:
    return conn.execute(select(r).where(r.c.cik == cik)).mappings().first()


def root_of(conn: Connection, organization_id: str) -> RowMapping | None:
    return conn.execute(select(r).where(r.c.root_of == organization_id)).mappings().first()


def of_machine(conn: Connection, machine_id: str) -> RowMapping | None:
    return conn.execute(select(r).where(r.c.machine_id == machine_id)).mappings().first()


def insert_resource(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(r).values(**row))


def update_resource(conn: Connection, rid: str, values: Mapping[str, Any]) -> None:
    conn.execute(update(r).where(r.c.rid == rid).values(**values))


def delete_resource(conn: Connection, rid: str) -> None:
    """Deletes the resource; the foreign keys take its sub-tree, aliases, shares and tokens along,
    and a trigger its points."""
    conn.execute(delete(r).where(r.c.rid == rid))


def parent_of(conn: Connection, rid: str) -> str | None:
    value = conn.execute(select(r.c.parent_rid).where(r.c.rid == rid)).scalar()
    return None if value is None else str(value)


def children(
    conn: Connection, owner_rid: str, types: Collection[str], *, public_only: bool = False
) -> list[RowMapping]:
    stmt = select(r.c.rid, r.c.type, r.c.tags, r.c.public).where(
        r.c.parent_rid == owner_rid, r.c.type.in_(list(types))
    )
    if public_only:
        stmt = stmt.where(r.c.public.is_(True))
    return list(conn.execute(stmt.order_by(r.c.created_at, r.c.rid)).mappings())


def count_children(conn: Connection, owner_rid: str) -> dict[str, int]:
    stmt = select(r.c.type, func.count()).where(r.c.parent_rid == owner_rid).group_by(r.c.type)
    return {str(kind): int(n) for kind, n in conn.execute(stmt)}


def series_taken(conn: Connection, series: int) -> bool:
    return conn.execute(select(r.c.rid).where(r.c.series == series)).first() is not None


def subtree(conn: Connection, rid: str) -> list[tuple[str, str]]:
    """``(rid, type)`` of the resource and all its descendants, parents before children."""
    out: list[tuple[str, str]] = []
    row = conn.execute(select(r.c.rid, r.c.type).where(r.c.rid == rid)).first()
    if row is None:
        return out
    level = [(str(row[0]), str(row[1]))]
    while level:
        out.extend(level)
        parents = [rid_ for rid_, kind in level if kind == "client"]
        if not parents:
            break
        stmt = select(r.c.rid, r.c.type).where(r.c.parent_rid.in_(parents)).order_by(r.c.created_at, r.c.rid)
        level = [(str(x), str(y)) for x, y in conn.execute(stmt)]
    return out


def created_times(conn: Connection, rids: Sequence[str]) -> list[int]:
    if not rids:
        return []
    return [int(x) for x in conn.execute(select(r.c.created_at).where(r.c.rid.in_(list(rids)))).scalars()]


def subscribed_to(conn: Connection, rid: str) -> list[RowMapping]:
    """The resources whose input is ``rid``'s points, locked (their points and state change with
    it)."""
    stmt = select(r).where(r.c.subscribe_rid == rid).order_by(r.c.rid)
    return list(conn.execute(for_update(conn, stmt)).mappings())


def subscribers_of(conn: Connection, rid: str) -> list[str]:
    return [
        str(x)
        for x in conn.execute(select(r.c.rid).where(r.c.subscribe_rid == rid).order_by(r.c.rid)).scalars()
    ]


def due_rules(conn: Connection, at: int) -> list[RowMapping]:
    """The datarules whose deadline passed, soonest first (not locked: lock them, then read them
    again)."""
    stmt = select(r).where(r.c.deadline.is_not(None), r.c.deadline <= at, r.c.type == "datarule")
    return list(conn.execute(stmt.order_by(r.c.deadline, r.c.rid)).mappings())


def aliased(conn: Connection, owner_rid: str, types: Collection[str]) -> list[RowMapping]:
    """The resources of these types an owner has aliases for."""
    stmt = (
        select(r.c.rid, r.c.type, r.c.tags)
        .join(a, a.c.rid == r.c.rid)
        .where(a.c.owner_rid == owner_rid, r.c.type.in_(list(types)))
        .order_by(a.c.alias)
    )
    return list(conn.execute(stmt).mappings())


def move_aliases(conn: Connection, rid: str, old_owner: str, new_owner: str, *, keep: bool) -> None:
    """The old owner's aliases of ``rid`` go to the new owner (those it already uses are dropped),
    or are removed."""
    stmt = select(a.c.alias).where(a.c.owner_rid == old_owner, a.c.rid == rid)
    names = [str(x) for x in conn.execute(stmt).scalars()]
    conn.execute(delete(a).where(a.c.owner_rid == old_owner, a.c.rid == rid))
    if keep:
        for name in names:
            if alias_target(conn, new_owner, name) is None:
                add_alias(conn, new_owner, name, rid)


def activate_client(conn: Connection, rid: str, at: int) -> bool:
    """Marks a client whose key awaits activation (a provisioned device's) activated; False when it
    does not await it. The condition is in the UPDATE: of concurrent activations (over RPC by the
    owner, or by the device through provisioning) exactly one wins."""
    stmt = (
        update(r)
        .where(r.c.rid == rid, r.c.status == "notactivated")
        .values(status="activated", modified_at=at)
    )
    return int(conn.execute(stmt).rowcount) == 1


# --- shares, tokens and usage -------------------------------------------------------------------


def share(conn: Connection, code: str, *, lock: bool = False) -> RowMapping | None:
    """The share of that code; with ``lock``, locked until the transaction ends (to change it)."""
    stmt = select(sh).where(sh.c.code == code)
    return conn.execute(for_update(conn, stmt) if lock else stmt).mappings().first()


def insert_share(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(sh).values(**row))


def update_share(conn: Connection, code: str, values: Mapping[str, Any]) -> None:
    conn.execute(update(sh).where(sh.c.code == code).values(**values))


def delete_share(conn: Connection, code: str) -> None:
    conn.execute(delete(sh).where(sh.c.code == code))


def shares_of(conn: Connection, rid: str) -> list[RowMapping]:
    return list(
        conn.execute(select(sh).where(sh.c.rid == rid).order_by(sh.c.created_at, sh.c.code)).mappings()
    )


def shared_with(conn: Connection, client: str, rids: Sequence[str]) -> bool:
    """Whether ``client`` activated a share of one of ``rids``."""
    stmt = select(sh.c.code).where(sh.c.activator_rid == client, sh.c.rid.in_(list(rids))).limit(1)
    return conn.execute(stmt).first() is not None


def activated(conn: Connection, client: str, types: Collection[str]) -> list[RowMapping]:
    """The resources of these types shared with ``client`` by shares it activated."""
    stmt = (
        select(r.c.rid, r.c.type, r.c.tags)
        .join(sh, sh.c.rid == r.c.rid)
        .where(sh.c.activator_rid == client, r.c.type.in_(list(types)))
        .order_by(sh.c.activated_at, r.c.rid)
    )
    return list(conn.execute(stmt).mappings())


def token_by_hash(conn: Connection, token_hash: str) -> RowMapping | None:
    return conn.execute(select(tk).where(tk.c.token_hash == token_hash)).mappings().first()


def token_by_id(conn: Connection, token_id: str) -> RowMapping | None:
    return conn.execute(select(tk).where(tk.c.id == token_id)).mappings().first()


def insert_token(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(tk).values(**row))


def delete_token(conn: Connection, token_id: str) -> None:
    conn.execute(delete(tk).where(tk.c.id == token_id))


def tokens_of(conn: Connection, client: str, at: int) -> list[str]:
    """The ids of the client's unexpired tokens."""
    stmt = select(tk.c.id).where(
        tk.c.client_rid == client, or_(tk.c.expires_at.is_(None), tk.c.expires_at > at)
    )
    return [str(x) for x in conn.execute(stmt.order_by(tk.c.created_at, tk.c.id)).scalars()]


def use(conn: Connection, client: str, metric: str, at: int, amount: int = 1) -> None:
    conn.execute(insert(us).values(client_rid=client, metric=metric, at=at, amount=amount))


def consumed(conn: Connection, clients: Sequence[str]) -> dict[str, int]:
    """Consumables used by these clients, by metric."""
    if not clients:
        return {}
    stmt = (
        select(us.c.metric, func.sum(us.c.amount))
        .where(us.c.client_rid.in_(list(clients)))
        .group_by(us.c.metric)
    )
    return {str(m): int(n) for m, n in conn.execute(stmt)}


def consumed_between(conn: Connection, clients: Sequence[str], metric: str, start: int, end: int) -> int:
    if not clients:
        return 0
    stmt = select(func.coalesce(func.sum(us.c.amount), 0)).where(
        us.c.client_rid.in_(list(clients)), us.c.metric == metric, us.c.at >= start, us.c.at <= end
    )
    return int(conn.execute(stmt).scalar() or 0)


def forget_usage(conn: Connection, before: int) -> None:
    conn.execute(delete(us).where(us.c.at < before))


# --- aliases ----------------------------------------------------------------------------------


def alias_target(conn: Connection, owner_rid: str, alias: str) -> str | None:
    value = conn.execute(select(a.c.rid).where(a.c.owner_rid == owner_rid, a.c.alias == alias)).scalar()
    return None if value is None else str(value)


def add_alias(conn: Connection, owner_rid: str, alias: str, rid: str) -> None:
    conn.execute(insert(a).values(owner_rid=owner_rid, alias=alias, rid=rid))


def remove_alias(conn: Connection, owner_rid: str, alias: str) -> int:
    return int(conn.execute(delete(a).where(a.c.owner_rid == owner_rid, a.c.alias == alias)).rowcount)


def aliases_under(conn: Connection, owner_rid: str) -> dict[str, list[str]]:
    """The aliases an owner made, by the RID they name."""
    stmt = select(a.c.rid, a.c.alias).where(a.c.owner_rid == owner_rid).order_by(a.c.alias)
    out: dict[str, list[str]] = {}
    for rid, alias in conn.execute(stmt):
        out.setdefault(str(rid), []).append(str(alias))
    return out


def aliased_rids(conn: Connection, owner_rid: str) -> set[str]:
    return {str(x) for x in conn.execute(select(a.c.rid).where(a.c.owner_rid == owner_rid)).scalars()}


def with_retention(conn: Connection) -> list[str]:
    """The RIDs of the resources whose points a retention limits (for the background sweep)."""
    stmt = select(r.c.rid).where(
        r.c.series.is_not(None), or_(r.c.retention_count.is_not(None), r.c.retention_seconds.is_not(None))
    )
    return [str(x) for x in conn.execute(stmt.order_by(r.c.rid)).scalars()]


def dataport_page(
    conn: Connection, owner_rid: str, *, after: tuple[str | None, str] | None, limit: int
) -> list[RowMapping]:
    """One page of an owner's dataports, each with the owner's first alias of it (``alias``, None
    when it has none): aliased ones by alias, then the others by RID, at most ``limit``, after the
    key ``(alias, rid)`` of the previous page's last. Aliases compare by code point on both
    databases. One statement."""
    first = select(a.c.rid, func.min(_bytewise(conn, a.c.alias)).label("alias"))
    first = first.where(a.c.owner_rid == owner_rid).group_by(a.c.rid)
    aliases = first.subquery()
    alias = _bytewise(conn, aliases.c.alias)
    stmt = (
        select(
            r.c.rid,
            r.c.name,
            r.c.format,
            r.c.retention_count,
            r.c.retention_seconds,
            r.c.series,
            r.c.created_at,
            r.c.modified_at,
            aliases.c.alias,
        )
        .select_from(r.outerjoin(aliases, aliases.c.rid == r.c.rid))
        .where(r.c.parent_rid == owner_rid, r.c.type == "dataport")
    )
    if after is not None:
        after_alias, after_rid = after
        if after_alias is None:
            stmt = stmt.where(aliases.c.alias.is_(None), r.c.rid > after_rid)
        else:
            stmt = stmt.where(
                or_(
                    aliases.c.alias.is_(None),
                    alias > after_alias,
                    and_(alias == after_alias, r.c.rid > after_rid),
                )
            )
    stmt = stmt.order_by(aliases.c.alias.is_(None), alias, r.c.rid).limit(limit)
    return list(conn.execute(stmt).mappings())


def _bytewise(conn: Connection, column: Any) -> Any:
    """A text column compared by code point: PostgreSQL's ``C`` collation (SQLite compares so)."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column
