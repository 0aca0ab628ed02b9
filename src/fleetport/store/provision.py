"""Queries of provisioning: vendors, their models, the serial numbers and content of a model, and
the activation log of a serial number."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, delete, insert, select, update

from fleetport.store import tables as t
from fleetport.store.locks import lock

v, m, s = t.provision_vendors, t.provision_models, t.provision_serials
lg, c, r = t.provision_activation_log, t.provision_content, t.telemetry_resources

# --- vendors ----------------------------------------------------------------------------------


def vendor_by_client(conn: Connection, client_rid: str) -> RowMapping | None:
    return conn.execute(select(v).where(v.c.client_rid == client_rid)).mappings().first()


def vendor_by_token(conn: Connection, token: str) -> RowMapping | None:
    return conn.execute(select(v).where(v.c.token == token)).mappings().first()


def vendor_by_name(conn: Connection, name: str) -> RowMapping | None:
    return conn.execute(select(v).where(v.c.name == name)).mappings().first()


def insert_vendor(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(v).values(**row))


def delete_vendor(conn: Connection, vendor_id: str) -> None:
    """Deletes the vendor; the foreign keys take its models, serial numbers and content along."""
    conn.execute(delete(v).where(v.c.id == vendor_id))


# --- models -----------------------------------------------------------------------------------


def model(conn: Connection, vendor_id: str, name: str) -> RowMapping | None:
    return conn.execute(select(m).where(m.c.vendor_id == vendor_id, m.c.name == name)).mappings().first()


def model_names(conn: Connection, vendor_id: str) -> list[str]:
    stmt = select(m.c.name).where(m.c.vendor_id == vendor_id).order_by(m.c.name)
    return [str(x) for x in conn.execute(stmt).scalars()]


def insert_model(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(m).values(**row))


def update_model(conn: Connection, model_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(update(m).where(m.c.id == model_id).values(**values))


def delete_model(conn: Connection, model_id: str) -> None:
    conn.execute(delete(m).where(m.c.id == model_id))


# --- serial numbers ---------------------------------------------------------------------------


def serial(conn: Connection, model_id: str, sn: str) -> RowMapping | None:
    """The serial number with the status of its client (``client_status``, null without one)."""
    stmt = (
        select(s, r.c.status.label("client_status"), r.c.cik.label("client_cik"))
        .outerjoin(r, r.c.rid == s.c.rid)
        .where(s.c.model_id == model_id, s.c.sn == sn)
    )
    return conn.execute(stmt).mappings().first()


def existing_serials(conn: Connection, model_id: str, sns: Sequence[str]) -> list[str]:
    """Those of ``sns`` the model has."""
    found: list[str] = []
    for start in range(0, len(sns), 500):  # keeps the IN list within every driver's limits
        chunk = list(sns[start : start + 500])
        stmt = select(s.c.sn).where(s.c.model_id == model_id, s.c.sn.in_(chunk))
        found.extend(str(x) for x in conn.execute(stmt).scalars())
    return found


def insert_serials(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(insert(s), list(rows))


def delete_serials(conn: Connection, model_id: str, sns: Sequence[str]) -> int:
    deleted = 0
    for start in range(0, len(sns), 500):
        chunk = list(sns[start : start + 500])
        deleted += int(conn.execute(delete(s).where(s.c.model_id == model_id, s.c.sn.in_(chunk))).rowcount)
    return deleted


def lock_serials(conn: Connection, serial_ids: Sequence[str]) -> None:
    """Locks serial numbers (in id order) that are read and then changed: their activation, their
    client, their activation log. A serial number is locked before its client's resource."""
    lock(conn, s.c.id, serial_ids)


def update_serial(conn: Connection, serial_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(update(s).where(s.c.id == serial_id).values(**values))


def bind_serial(conn: Connection, serial_id: str, values: Mapping[str, Any]) -> bool:
    """Binds a client to a serial number that has none; False when another request bound one
    first (the condition is in the UPDATE)."""
    stmt = update(s).where(s.c.id == serial_id, s.c.rid.is_(None)).values(**values)
    return int(conn.execute(stmt).rowcount) == 1


def unbind_serial(conn: Connection, serial_id: str, rid: str) -> bool:
    """Leaves a serial number without its client ``rid``; False when it no longer has that one."""
    stmt = (
        update(s).where(s.c.id == serial_id, s.c.rid == rid).values(rid=None, owner_rid=None, enabled=False)
    )
    return int(conn.execute(stmt).rowcount) == 1


def serials_page(
    conn: Connection, model_id: str, *, after: str | None, offset: int, limit: int
) -> list[RowMapping]:
    """A page of the model's serial numbers in the order they were added (ids are time-ordered),
    each with the status of its client: those after the serial number ``after`` (an id), skipping
    ``offset`` of them. ``limit + 1`` rows, so that the caller can tell whether another page follows."""
    stmt = (
        select(s, r.c.status.label("client_status"))
        .outerjoin(r, r.c.rid == s.c.rid)
        .where(s.c.model_id == model_id, *([s.c.id > after] if after is not None else []))
        .order_by(s.c.id)
        .offset(offset)
        .limit(limit + 1)
    )
    return list(conn.execute(stmt).mappings())


def serial_of_client(conn: Connection, model_id: str, rid: str) -> RowMapping | None:
    stmt = select(s).where(s.c.model_id == model_id, s.c.rid == rid)
    return conn.execute(stmt).mappings().first()


# --- activation log ---------------------------------------------------------------------------


def add_log(conn: Connection, serial_id: str, at: int, connection: str, entry: str, *, keep: int) -> None:
    """Appends an entry and forgets all but the ``keep`` newest of the serial number (locked, so
    that concurrent attempts trim one after the other)."""
    lock_serials(conn, [serial_id])
    conn.execute(insert(lg).values(serial_id=serial_id, at=at, connection=connection, entry=entry))
    boundary = conn.execute(
        select(lg.c.id).where(lg.c.serial_id == serial_id).order_by(lg.c.id.desc()).offset(keep).limit(1)
    ).scalar()
    if boundary is not None:
        conn.execute(delete(lg).where(and_(lg.c.serial_id == serial_id, lg.c.id <= boundary)))


def log(conn: Connection, serial_id: str) -> list[RowMapping]:
    stmt = select(lg.c.at, lg.c.connection, lg.c.entry).where(lg.c.serial_id == serial_id).order_by(lg.c.id)
    return list(conn.execute(stmt).mappings())


# --- content ----------------------------------------------------------------------------------


def content(conn: Connection, model_id: str, content_id: str) -> RowMapping | None:
    stmt = select(c).where(c.c.model_id == model_id, c.c.content_id == content_id)
    return conn.execute(stmt).mappings().first()


def content_ids(conn: Connection, model_id: str, *, public_only: bool = False) -> list[str]:
    stmt = select(c.c.content_id).where(c.c.model_id == model_id)
    if public_only:
        stmt = stmt.where(c.c.protected.is_(False))
    return [str(x) for x in conn.execute(stmt.order_by(c.c.content_id)).scalars()]


def insert_content(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(insert(c).values(**row))


def update_content(conn: Connection, row_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(update(c).where(c.c.id == row_id).values(**values))


def delete_content(conn: Connection, row_id: str) -> None:
    conn.execute(delete(c).where(c.c.id == row_id))
