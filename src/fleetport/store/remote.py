"""Queries of remote access: deployments and their access rules, instances, reservations and CI
projects (see core/remote)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    and_,
    delete,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from fleetport.store import tables as t
from fleetport.store.locks import lock

d, r, i, rv, m, u = t.deployments, t.deployment_rules, t.instances, t.reservations, t.machines, t.users
ip = t.instance_ports
INSTANTIATE = "CAP_INSTANTIATE"
ACTIVE = ("INIT", "READY", "TERMINATING")


@dataclass(frozen=True)
class Seen:
    """Which deployments a caller sees: everything, or those of machines in these organizations,
    locations or single robots, plus those whose rules let ``user_id`` (or everyone) launch."""

    everything: bool = False
    organizations: Collection[str] = ()
    locations: Collection[str] = ()
    robots: Collection[str] = ()
    user_id: str | None = None


def _queuelen() -> Any:
    return select(func.count(rv.c.id)).where(rv.c.deployment_id == d.c.id).scalar_subquery().label("queuelen")


def _seen(seen: Seen) -> ColumnElement[bool]:
    if seen.everything:
        return true()
    ruled = or_(r.c.user_id.is_(None), r.c.user_id == seen.user_id) if seen.user_id else r.c.user_id.is_(None)
    granted = exists().where(r.c.deployment_id == d.c.id, r.c.capability == INSTANTIATE, ruled)
    return or_(_grants(seen), granted)


def _online_until() -> Any:
    """Until when an agent of the deployment's machine is online (the latest of its parts')."""
    parts = t.parts
    latest = select(func.max(parts.c.agent_online_until)).where(parts.c.machine_id == d.c.machine_id)
    return latest.scalar_subquery().label("online_until")


def _deployments() -> Select[Any]:
    return select(d, m.c.location_id, _queuelen(), _online_until()).join(m, m.c.id == d.c.machine_id)


# --- deployments ------------------------------------------------------------------------------


def deployment(conn: Connection, deployment_id: str) -> RowMapping | None:
    """The deployment with its machine's location and its queue length."""
    return conn.execute(_deployments().where(d.c.id == deployment_id)).mappings().first()


def deployment_of_machine(conn: Connection, machine_id: str) -> RowMapping | None:
    return conn.execute(_deployments().where(d.c.machine_id == machine_id)).mappings().first()


def machines_named(conn: Connection, seen: Seen, name: str, limit: int) -> list[str]:
    """Ids of at most ``limit`` machines called ``name`` that the caller reads (by the grants of
    ``seen``; access rules do not count), by id."""
    stmt = select(m.c.id).where(m.c.name == name, _reads_machines(seen)).order_by(m.c.id).limit(limit)
    return [str(x) for x in conn.execute(stmt).scalars()]


def lock_deployment(conn: Connection, deployment_id: str) -> RowMapping | None:
    """Locks the deployment (everything launched on it queues behind), and reads it."""
    lock(conn, d.c.id, [deployment_id])
    return deployment(conn, deployment_id)


def insert_deployment(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(d).values(**row))


def update_deployment(conn: Connection, deployment_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(update(d).where(d.c.id == deployment_id).values(**values))


def count_launch(conn: Connection, deployment_id: str) -> None:
    conn.execute(update(d).where(d.c.id == deployment_id).values(instance_count=d.c.instance_count + 1))


def delete_deployment(conn: Connection, deployment_id: str) -> None:
    conn.execute(delete(d).where(d.c.id == deployment_id))


def search(
    conn: Connection,
    seen: Seen,
    *,
    text: str | None = None,
    types: Sequence[str] = (),
    not_types: Sequence[str] = (),
    maxlen: int | None = None,
    limit: int,
    offset: int,
) -> tuple[list[RowMapping], int]:
    """The deployments seen that match, by type then id, from ``offset`` (at most ``limit`` of
    them), and how many match in all."""
    where = [_seen(seen)]
    if text:
        pattern = text.lower()
        where.append(
            or_(
                func.lower(d.c.type).contains(pattern, autoescape=True),
                func.lower(d.c.region).contains(pattern, autoescape=True),
                d.c.id.contains(pattern, autoescape=True),
            )
        )
    if types:
        where.append(d.c.type.in_(list(types)))
    if not_types:
        where.append(d.c.type.not_in(list(not_types)))
    if maxlen is not None:
        where.append(_queuelen().element <= maxlen)
    condition = and_(*where)
    total = conn.execute(
        select(func.count(d.c.id)).select_from(d.join(m, m.c.id == d.c.machine_id)).where(condition)
    ).scalar_one()
    stmt = _deployments().where(condition).order_by(d.c.type, d.c.id).limit(limit).offset(offset)
    return list(conn.execute(stmt).mappings()), int(total)


def types(conn: Connection, seen: Seen) -> list[str]:
    stmt = select(d.c.type).join(m, m.c.id == d.c.machine_id).where(_seen(seen)).distinct().order_by(d.c.type)
    return [str(x) for x in conn.execute(stmt).scalars()]


def of_type(conn: Connection, seen: Seen, type_: str | None) -> list[RowMapping]:
    """The deployments seen of one type (None: of any type), shortest queue first."""
    stmt = _deployments().where(_seen(seen))
    if type_ is not None:
        stmt = stmt.where(d.c.type == type_)
    return list(conn.execute(stmt.order_by("queuelen", d.c.id).limit(1000)).mappings())


# --- access rules -----------------------------------------------------------------------------


def _rules() -> Select[Any]:
    return select(r, u.c.email).outerjoin(u, u.c.id == r.c.user_id)


def rules(conn: Connection, deployment_ids: Collection[str], user_id: str | None = None) -> list[RowMapping]:
    """The rules of these deployments (those naming ``user_id`` only, when given), oldest first."""
    stmt = _rules().where(r.c.deployment_id.in_(list(deployment_ids)))
    if user_id is not None:
        stmt = stmt.where(r.c.user_id == user_id)
    return list(conn.execute(stmt.order_by(r.c.id)).mappings())


def rules_for(conn: Connection, deployment_id: str, user_id: str | None) -> list[RowMapping]:
    """The rules of a deployment that apply to ``user_id``: its own and everyone's."""
    applies = r.c.user_id.is_(None) if user_id is None else or_(r.c.user_id.is_(None), r.c.user_id == user_id)
    return list(conn.execute(_rules().where(r.c.deployment_id == deployment_id, applies)).mappings())


def rule(conn: Connection, rule_id: str) -> RowMapping | None:
    return conn.execute(_rules().where(r.c.id == rule_id)).mappings().first()


def insert_rule(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(r).values(**row))


def delete_rule(conn: Connection, deployment_id: str, rule_id: str) -> int:
    return int(conn.execute(delete(r).where(r.c.deployment_id == deployment_id, r.c.id == rule_id)).rowcount)


def managed_deployments(conn: Connection, seen: Seen) -> list[str]:
    """The ids of the deployments of the machines ``seen`` reaches (its rules play no part)."""
    stmt = (
        select(d.c.id).join(m, m.c.id == d.c.machine_id).where(true() if seen.everything else _grants(seen))
    )
    return [str(x) for x in conn.execute(stmt).scalars()]


def _grants(seen: Seen) -> ColumnElement[bool]:
    return or_(
        d.c.organization_id.in_(list(seen.organizations)) if seen.organizations else false(),
        m.c.location_id.in_(list(seen.locations)) if seen.locations else false(),
        d.c.machine_id.in_(list(seen.robots)) if seen.robots else false(),
    )


def _reads_machines(seen: Seen) -> ColumnElement[bool]:
    if seen.everything:
        return true()
    return or_(
        m.c.organization_id.in_(list(seen.organizations)) if seen.organizations else false(),
        m.c.location_id.in_(list(seen.locations)) if seen.locations else false(),
        m.c.id.in_(list(seen.robots)) if seen.robots else false(),
    )


# --- instances --------------------------------------------------------------------------------


def _instances() -> Select[Any]:
    return (
        select(i, d.c.type, d.c.region, d.c.machine_id, d.c.organization_id, m.c.location_id)
        .join(d, d.c.id == i.c.deployment_id)
        .join(m, m.c.id == d.c.machine_id)
    )


def instance(conn: Connection, instance_id: str) -> RowMapping | None:
    """The instance with its deployment's type, region, machine, organization and location."""
    return conn.execute(_instances().where(i.c.id == instance_id)).mappings().first()


def lock_instance(conn: Connection, instance_id: str) -> RowMapping | None:
    """Locks the instance's deployment, then the instance (parents first), and reads it."""
    found = conn.execute(select(i.c.deployment_id).where(i.c.id == instance_id)).scalar()
    if found is None:
        return None
    lock(conn, d.c.id, [found])
    lock(conn, i.c.id, [instance_id])
    return instance(conn, instance_id)


def active_instance(conn: Connection, deployment_id: str) -> RowMapping | None:
    return conn.execute(select(i).where(i.c.active_deployment == deployment_id)).mappings().first()


def ports_in_use(conn: Connection, first: int, last: int) -> set[int]:
    """The ports from ``first`` to ``last`` active instances hold (forwarding and add-on ports)."""
    held = select(ip.c.port).where(ip.c.port.between(first, last))
    forwarding = select(i.c.port).where(i.c.port.is_not(None), i.c.port.between(first, last))
    return {int(x) for x in conn.execute(held.union(forwarding)).scalars()}


def insert_ports(conn: Connection, instance_id: str, addon: str | None, ports: Mapping[str, int]) -> None:
    """Records the ports (by kind) the instance holds for the add-on (None: its forwarding port);
    a port held already raises (the primary key)."""
    rows = [
        {"port": port, "instance_id": instance_id, "addon": addon, "kind": k} for k, port in ports.items()
    ]
    if rows:
        conn.execute(insert(ip), rows)


def ports_of(conn: Connection, instance_id: str, addon: str) -> dict[str, int]:
    """The ports (by kind) the instance holds for the add-on."""
    stmt = select(ip.c.kind, ip.c.port).where(ip.c.instance_id == instance_id, ip.c.addon == addon)
    return {str(kind): int(port) for kind, port in conn.execute(stmt)}


def delete_ports(conn: Connection, instance_id: str, addon: str | None = None) -> None:
    """Gives back the ports the instance holds for the add-on, or all of them (no add-on)."""
    stmt = delete(ip).where(ip.c.instance_id == instance_id)
    if addon is not None:
        stmt = stmt.where(ip.c.addon == addon)
    conn.execute(stmt)


def insert_instance(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(i).values(**row))


def update_instance(conn: Connection, instance_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(update(i).where(i.c.id == instance_id).values(**values))


def instances_of(
    conn: Connection, launched_by: str, *, include_ended: bool, limit: int, offset: int
) -> tuple[list[RowMapping], int]:
    """The instances ``launched_by`` launched, newest first (only active ones unless
    ``include_ended``), from ``offset``, and how many there are in all."""
    where = [i.c.launched_by == launched_by]
    if not include_ended:
        where.append(i.c.status.in_(ACTIVE))
    total = conn.execute(select(func.count(i.c.id)).where(*where)).scalar_one()
    stmt = _instances().where(*where).order_by(i.c.id.desc()).limit(limit).offset(offset)
    return list(conn.execute(stmt).mappings()), int(total)


def due(conn: Connection, status: str, column: str, before: datetime) -> list[str]:
    """The ids of instances in ``status`` whose ``column`` (a time) is before ``before``."""
    stmt = select(i.c.id).where(i.c.status == status, i.c[column] < before).order_by(i.c.id).limit(1000)
    return [str(x) for x in conn.execute(stmt).scalars()]


def unhosted(
    conn: Connection,
    now: datetime,
    *,
    machine_id: str | None = None,
    besides: str | None = None,
    statuses: tuple[str, ...] = ("READY", "TERMINATING"),
) -> list[str]:
    """The ids of instances in ``statuses`` (READY and TERMINATING by default; of ``machine_id``'s
    deployment, or of every deployment) whose machine has no part other than ``besides`` with an
    agent online at ``now``: no agent holds their workspaces any more."""
    p = t.parts
    hosting = [p.c.machine_id == d.c.machine_id, p.c.agent_online_until > now]
    if besides is not None:
        hosting.append(p.c.id != besides)
    where = [i.c.status.in_(statuses), ~exists().where(*hosting)]
    if machine_id is not None:
        where.append(d.c.machine_id == machine_id)
    stmt = select(i.c.id).join(d, d.c.id == i.c.deployment_id).where(*where).order_by(i.c.id).limit(1000)
    return [str(x) for x in conn.execute(stmt).scalars()]


def part_machine(conn: Connection, part_id: str) -> str | None:
    """The machine a part belongs to."""
    found = conn.execute(select(t.parts.c.machine_id).where(t.parts.c.id == part_id)).scalar()
    return None if found is None else str(found)


# --- reservations -----------------------------------------------------------------------------


def _reservations() -> Select[Any]:
    return select(rv, d.c.type).join(d, d.c.id == rv.c.deployment_id)


def insert_reservation(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(rv).values(**row))


def reservations_of(conn: Connection, requested_by: str) -> list[RowMapping]:
    stmt = _reservations().where(rv.c.requested_by == requested_by).order_by(rv.c.created_at, rv.c.id)
    return list(conn.execute(stmt).mappings())


def reservation(conn: Connection, reservation_id: str) -> RowMapping | None:
    return conn.execute(_reservations().where(rv.c.id == reservation_id)).mappings().first()


def oldest_reservation(conn: Connection, deployment_id: str) -> RowMapping | None:
    stmt = _reservations().where(rv.c.deployment_id == deployment_id).order_by(rv.c.created_at, rv.c.id)
    return conn.execute(stmt.limit(1)).mappings().first()


def delete_reservation(conn: Connection, reservation_id: str) -> int:
    return int(conn.execute(delete(rv).where(rv.c.id == reservation_id)).rowcount)


def waiting_deployments(conn: Connection) -> list[str]:
    """The deployments with a reservation waiting and no active instance."""
    stmt = (
        select(rv.c.deployment_id)
        .where(~exists().where(i.c.active_deployment == rv.c.deployment_id))
        .distinct()
        .order_by(rv.c.deployment_id)
        .limit(1000)
    )
    return [str(x) for x in conn.execute(stmt).scalars()]


# --- CI projects ------------------------------------------------------------------------------


def insert_ci_project(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(t.ci_projects).values(**row))


def ci_projects_of(conn: Connection, owner_id: str) -> list[RowMapping]:
    c = t.ci_projects
    stmt = select(c).where(c.c.owner_id == owner_id).order_by(c.c.id).limit(1000)
    return list(conn.execute(stmt).mappings())


def ci_project(conn: Connection, project_id: str) -> RowMapping | None:
    c = t.ci_projects
    return conn.execute(select(c).where(c.c.id == project_id)).mappings().first()
