"""Loading an entity and checking the caller's permission on it, in one step."""

from __future__ import annotations

from collections.abc import Iterable

from fleetport.core import validate
from fleetport.core.errors import Invalid, NotFound
from fleetport.core.ids import is_uuid
from fleetport.core.permissions import Principal, Scope, deny
from fleetport.store import Row, Tx
from fleetport.store import queries as q


def _load(conn: Tx, record: q.Record, id_: str, what: str) -> Row:
    row = q.get(conn, record, validate.entity_id(id_, what))
    if row is None:
        raise NotFound(f"{what} {id_} not found")
    return row


def organization(conn: Tx, p: Principal, permission: str, org_id: str) -> Row:
    row = _load(conn, "organizations", org_id, "organization")
    if not p.scope(conn, permission).covers_organization(row["id"]):
        raise deny(permission, f"organization {org_id}")
    return row


def location(conn: Tx, p: Principal, permission: str, location_id: str) -> Row:
    row = _load(conn, "locations", location_id, "location")
    if not p.scope(conn, permission).covers_location(row["id"], row["organization_id"]):
        raise deny(permission, f"location {location_id}")
    return row


def machine(conn: Tx, p: Principal, permission: str, machine_id: str) -> Row:
    return covered_machine(conn, p, permission, _load(conn, "machines", machine_id, "machine"))


def covered_machine(conn: Tx, p: Principal, permission: str, row: Row) -> Row:
    """The machine's row, already read, if the caller holds ``permission`` on it."""
    if not p.scope(conn, permission).covers_robot(row["id"], row["location_id"], row["organization_id"]):
        raise deny(permission, f"machine {row['id']}")
    return row


# What a part authenticated by its own secret may do to itself (and nothing else).
PART_SELF_PERMISSIONS = frozenset({"read_robot", "read_robot_config", "write_robot_logs"})


def part(conn: Tx, p: Principal, permission: str, part_id: str) -> tuple[Row, Row]:
    """The part and its machine. A part authenticated by its own secret reads its own config and
    writes its own logs (``PART_SELF_PERMISSIONS``)."""
    row = _load(conn, "parts", part_id, "part")
    if p.kind == "part":
        if p.part_id == row["id"] and permission in PART_SELF_PERMISSIONS:
            return row, _load(conn, "machines", row["machine_id"], "machine")
        raise deny(permission, f"part {part_id}")
    return row, machine(conn, p, permission, row["machine_id"])


_RECORDS: dict[str, q.Record] = {
    "organization": "organizations",
    "location": "locations",
    "robot": "machines",
}


_NAMES = {"organization": "organization", "location": "location", "robot": "machine"}


def check_resource_type(resource_type: str) -> None:
    if resource_type not in _RECORDS:
        raise Invalid("resource_type must be organization, location or robot")


def resource(conn: Tx, resource_type: str, resource_id: str) -> Row:
    """An organization, location or robot (machine) by its type and id."""
    check_resource_type(resource_type)
    return _load(conn, _RECORDS[resource_type], resource_id, _NAMES[resource_type])


def resources(conn: Tx, named: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Row]:
    """The organizations, locations and robots named by (type, id), by (type, id), in one statement
    per type; those that do not exist, or cannot (malformed ids), are left out."""
    ids: dict[str, set[str]] = {}
    for resource_type, resource_id in named:
        check_resource_type(resource_type)
        if is_uuid(resource_id):
            ids.setdefault(resource_type, set()).add(resource_id.lower())
    return {
        (resource_type, row["id"]): row
        for resource_type, wanted in ids.items()
        for row in q.find(conn, _RECORDS[resource_type], id=wanted)
    }


def covers(scope: Scope, resource_type: str, row: Row) -> bool:
    """Whether the scope reaches the resource (its row as ``resource`` reads it)."""
    if resource_type == "organization":
        return scope.covers_organization(row["id"])
    if resource_type == "location":
        return scope.covers_location(row["id"], row["organization_id"])
    return scope.covers_robot(row["id"], row["location_id"], row["organization_id"])


def resource_organization(conn: Tx, resource_type: str, resource_id: str) -> str:
    """The organization a resource belongs to (for checking that a grant stays inside one)."""
    table = _RECORDS.get(resource_type)
    if table is None:
        raise Invalid(f"unknown resource type {resource_type!r}")
    row = _load(conn, table, resource_id, resource_type)
    return str(row["id"] if resource_type == "organization" else row["organization_id"])


def require_admin(p: Principal, what: str) -> None:
    if not p.is_admin:
        raise deny("server administration", what)
